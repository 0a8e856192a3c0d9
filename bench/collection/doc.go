// Package collectionbench holds side-by-side benchmarks of levee's collection
// module (RollingWindow, TimingWheel) against go-zero's core/collection.
//
// Run with: go test -run '^$' -bench . -cpu 1,2 ./collection/
package collectionbench
