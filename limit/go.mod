module github.com/levee-go/levee/limit

go 1.22
