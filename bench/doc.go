// Package bench holds levee's side-by-side benchmarks against its peers.
//
// Every benchmark names each implementation as a sub-benchmark
// (BenchmarkRollingWindowAdd/levee, BenchmarkRollingWindowAdd/gozero, ...)
// so that one run holds them all and benchstat can compare them. Each
// primitive lives in a package of its own and `make bench` runs every
// top-level benchmark in a process of its own, because some peers start
// goroutines that never stop or install signal handlers on import.
//
// This module is never imported by the toolkit modules.
package bench
