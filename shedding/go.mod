module github.com/levee-go/levee/shedding

go 1.22
