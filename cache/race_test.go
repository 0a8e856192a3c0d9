//go:build race

package cache_test

// raceEnabled shortens the long simulations under the race detector,
// which slows them tenfold.
const raceEnabled = true
