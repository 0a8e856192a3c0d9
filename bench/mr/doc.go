// Package mr benchmarks levee's mr module against go-zero's core/mr and
// golang.org/x/sync/errgroup with SetLimit, doing the same work with the
// same number of workers (16): sum the squares of 10,000 integers.
//
// Besides ns/op, every MapReduce benchmark reports ns/item, the cost of
// moving one item through generate, map and reduce.
package mr
