module github.com/levee-go/levee/collection

go 1.22
