module github.com/levee-go/levee/cache/rediscache

go 1.22
