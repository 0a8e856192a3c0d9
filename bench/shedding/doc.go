// Package shedding holds benchmarks of levee's shedding module (the BBR-style
// shedder and the adaptive concurrency limit) beside their peers.
package shedding
