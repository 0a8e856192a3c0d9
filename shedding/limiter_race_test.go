//go:build race

package shedding_test

// The simulations are single-threaded, so the race detector learns nothing
// from them beyond one run; under it they play one seed. make test runs
// them again without -race, with every seed (limiter_norace_test.go).
var limSeeds = []uint64{1}
