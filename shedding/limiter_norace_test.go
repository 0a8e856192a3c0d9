//go:build !race

package shedding_test

// limSeeds seed the simulations of the behaviour tests.
var limSeeds = []uint64{1, 2, 3}
