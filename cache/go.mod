module github.com/levee-go/levee/cache

go 1.22
