module github.com/levee-go/levee/syncx

go 1.22
