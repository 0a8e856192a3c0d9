// Package examples holds the runnable examples that the root README.md
// shows: code that combines levee modules with each other or with a real
// client (the Elasticsearch Go client), compiled and run by `make test`.
// A README block names its example with an
// <!-- example: bench/examples/example_test.go ExampleName --> marker.
package examples
