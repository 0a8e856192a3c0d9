module github.com/levee-go/levee/breaker

go 1.22
