package flood

import (
	"math"
	"sync/atomic"
	"time"
)

// docs is the synthetic document set a search scores: fixed, so the work
// is the same in every process.
var docs = func() []uint64 {
	d := make([]uint64, 1024)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range d {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		d[i] = x
	}
	return d
}()

// sink keeps the compiler from discarding the scoring loop.
var sink atomic.Uint64

// score does iters rounds of scoring over the document set: the real
// work of one search.
func score(iters int) {
	var acc uint64
	for i := 0; i < iters; i++ {
		for _, d := range docs[:64] {
			acc = (acc ^ d) * 0x100000001b3
		}
	}
	sink.Add(acc)
}

// Calibrate returns the number of scoring iterations that take d on this
// machine: the fastest of several trials, so a busy moment does not
// inflate the figure.
func Calibrate(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	const probe = 2000
	best := time.Duration(math.MaxInt64)
	for range 7 {
		start := time.Now()
		score(probe)
		if el := time.Since(start); el < best {
			best = el
		}
	}
	if best <= 0 {
		best = time.Nanosecond
	}
	n := int(float64(probe) * float64(d) / float64(best))
	return max(n, 1)
}
