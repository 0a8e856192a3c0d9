//go:build !race

package syncx_test

const raceEnabled = false
