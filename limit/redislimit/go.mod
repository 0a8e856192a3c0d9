module github.com/levee-go/levee/limit/redislimit

go 1.22
