//go:build race

package syncx_test

const raceEnabled = true
