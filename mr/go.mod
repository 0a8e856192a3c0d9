module github.com/levee-go/levee/mr

go 1.22
