//go:build race

package flood

// raceEnabled is true when the tests run under the race detector.
const raceEnabled = true
