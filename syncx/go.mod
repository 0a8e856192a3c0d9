module github.com/levee-go/levee/syncx

go 1.22

require (
	github.com/stretchr/testify v1.12.1 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
