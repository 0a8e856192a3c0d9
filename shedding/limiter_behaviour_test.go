package shedding_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/shedding"
)

// The behaviours the limiter promises (issue 9), each on the simulated
// dependency of limiter_sim_test.go: W = 50 workers, S = 50 ms (jittered
// ±50%), so capacity C = 1,000 calls a second; the callers' timeout is
// T = 1 s. Every scenario runs with several seeds; every number is
// reproducible.
const (
	simW       = 50
	simS       = 50 * time.Millisecond
	simC       = 1000.0
	simTimeout = time.Second
)

func newLimitedSim(t *testing.T, seed uint64, opts ...shedding.LimiterOption) (*limSim, *shedding.Limiter) {
	t.Helper()
	clk := &limClock{base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts = append([]shedding.LimiterOption{shedding.WithLimiterClock(clk)}, opts...)
	l, err := shedding.NewLimiter(opts...)
	require.NoError(t, err)
	return newLimSim(seed, l, clk, simTimeout), l
}

// load is a limPhase of d at perSecond calls of the Default class against the
// standard dependency.
func limLoad(d time.Duration, perSecond float64) limPhase {
	return limPhase{d: d, rate: [shedding.NumPriorities]float64{0, perSecond, 0}, workers: simW, service: simS}
}

func forLimSeeds(t *testing.T, f func(t *testing.T, seed uint64)) {
	for _, seed := range limSeeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { f(t, seed) })
	}
}

// limUnloadedP99 is the p99 latency of the dependency without a limiter at a
// twentieth of its capacity: its service time alone.
func limUnloadedP99(t *testing.T, seed uint64) time.Duration {
	t.Helper()
	clk := &limClock{base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newLimSim(seed, nil, clk, simTimeout)
	s.run(limLoad(60*time.Second, 0.05*simC))
	return s.lat.quantile(0.99)
}

// Behaviour 1: at half the capacity the limiter never rejects, and latency
// is that of an unloaded dependency.
func TestLimiterLightLoad(t *testing.T) {
	forLimSeeds(t, func(t *testing.T, seed uint64) {
		s, l := newLimitedSim(t, seed)
		s.run(limLoad(60*time.Second, 0.5*simC))
		tot := s.totals(0, 60)
		base := limUnloadedP99(t, seed)
		p99 := s.lat.quantile(0.99)
		t.Logf("goodput %d/s, p99 %v (unloaded %v), limit %d..%d, %+v", tot.goodput()/60, p99, base, tot.minLimit, tot.maxLimit, l.Stats())
		assert.Equal(t, 0, tot.rejections(), "rejections at half the capacity")
		assert.Equal(t, 0, tot.timeouts)
		assert.LessOrEqual(t, float64(p99), 1.1*float64(base), "p99 within 10%% of the unloaded p99")
		assert.InDelta(t, 0.5*simC, float64(tot.goodput())/60, 0.02*simC)
	})
}

// limFloodFigures checks goodput, latency and wasted work of seconds [from, to)
// of a flood.
func limFloodFigures(t *testing.T, s *limSim, from, to int) {
	t.Helper()
	tot := s.totals(from, to)
	n := float64(to - from)
	p99 := s.lat.quantile(0.99)
	t.Logf("seconds %d-%d: goodput %.0f/s (%.1f%% of C), p99 %v, wasted %.1f/s, timeouts %d, limit %d..%d",
		from, to, float64(tot.goodput())/n, 100*float64(tot.goodput())/n/simC, p99, float64(tot.wasted)/n, tot.timeouts, tot.minLimit, tot.maxLimit)
	assert.GreaterOrEqual(t, float64(tot.goodput())/n, 0.9*simC, "goodput")
	assert.LessOrEqual(t, p99, simTimeout/2, "p99 of successful calls")
	assert.LessOrEqual(t, float64(tot.wasted)/n, 0.02*simC, "wasted work")
	for i := from; i+10 <= to; i += 10 {
		w := s.totals(i, i+10)
		assert.GreaterOrEqual(t, float64(w.goodput())/10, 0.9*simC, "goodput in seconds %d-%d", i, i+10)
	}
}

// Behaviour 2: a flood of 3 C for 60 s, after 10 s of normal traffic and
// from a cold start: from 5 s into the flood on, goodput >= 90% of C, p99
// of successful calls <= T/2, wasted work <= 2% of C.
func TestLimiterFlood(t *testing.T) {
	t.Run("warm", func(t *testing.T) {
		forLimSeeds(t, func(t *testing.T, seed uint64) {
			s, _ := newLimitedSim(t, seed)
			s.from = 15
			s.run(limLoad(10*time.Second, 0.5*simC), limLoad(60*time.Second, 3*simC))
			limFloodFigures(t, s, 15, 70)
		})
	})
	t.Run("cold", func(t *testing.T) {
		forLimSeeds(t, func(t *testing.T, seed uint64) {
			s, _ := newLimitedSim(t, seed)
			s.from = 5
			s.run(limLoad(60*time.Second, 3*simC))
			limFloodFigures(t, s, 5, 60)
		})
	})
}

// The flood without the limiter: the dependency's queue grows without
// bound, every caller times out, and the dependency spends its capacity on
// answers nobody waits for. It shows the model is one in which the limiter
// has something to do.
func TestLimiterFloodUnprotected(t *testing.T) {
	clk := &limClock{base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newLimSim(1, nil, clk, simTimeout)
	s.run(limLoad(30*time.Second, 3*simC))
	tot := s.totals(5, 30)
	t.Logf("unprotected, seconds 5-30: goodput %d/s, wasted %d/s", tot.goodput()/25, tot.wasted/25)
	assert.Equal(t, 0, tot.goodput())
	assert.Greater(t, float64(tot.wasted)/25, 0.95*simC)
}

// Behaviour 4: the dependency's capacity doubles or halves mid-flood
// (workers, or service time): goodput is back to >= 90% of the new C
// within 10 s.
func TestLimiterCapacityChange(t *testing.T) {
	cases := []struct {
		name    string
		workers int
		service time.Duration
	}{
		{"workers-double", 2 * simW, simS},
		{"workers-halve", simW / 2, simS},
		{"service-halve", simW, simS / 2},
		{"service-double", simW, 2 * simS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forLimSeeds(t, func(t *testing.T, seed uint64) {
				s, _ := newLimitedSim(t, seed)
				newC := float64(tc.workers) / tc.service.Seconds()
				s.run(limLoad(30*time.Second, 3*simC), limPhase{d: 30 * time.Second, rate: [3]float64{0, 3 * max(simC, newC), 0}, workers: tc.workers, service: tc.service})
				first := -1
				for i := 30; i < 60; i++ {
					if float64(s.secs[i].goodput()) >= 0.9*newC {
						first = i - 30
						break
					}
				}
				tot := s.totals(40, 60)
				t.Logf("new C %.0f: first second at >= 90%%: %d, seconds 10-30 after: goodput %.1f%% of new C, limit %d..%d",
					newC, first, 100*float64(tot.goodput())/20/newC, tot.minLimit, tot.maxLimit)
				require.GreaterOrEqual(t, first, 0, "goodput never back to 90%% of the new capacity")
				assert.Less(t, first, 10, "seconds after the change until goodput >= 90%% of the new capacity")
				for i := 40; i < 60; i++ {
					assert.GreaterOrEqual(t, float64(s.secs[i].goodput()), 0.85*newC, "second %d", i)
				}
				assert.GreaterOrEqual(t, float64(tot.goodput())/20, 0.9*newC)
			})
		})
	}
}

// Behaviour 5: when the offered load falls back to 0.5 C after a flood,
// there is no rejection from 2 s after.
func TestLimiterRecovery(t *testing.T) {
	forLimSeeds(t, func(t *testing.T, seed uint64) {
		s, l := newLimitedSim(t, seed)
		s.run(limLoad(30*time.Second, 3*simC), limLoad(30*time.Second, 0.5*simC))
		for i := 30; i < 32; i++ {
			t.Logf("second %d: rejected %d", i, s.secs[i].rejections())
		}
		tot := s.totals(32, 60)
		t.Logf("seconds 2-30 after the flood: rejected %d, goodput %d/s, limit %d..%d, %+v", tot.rejections(), tot.goodput()/28, tot.minLimit, tot.maxLimit, l.Stats())
		assert.Equal(t, 0, tot.rejections())
		assert.Equal(t, 0, tot.timeouts)
	})
}

// Behaviour 6: in a flood of sheddable work, >= 95% of the calls of a
// higher class succeed while the sheddable class is cut.
func TestLimiterPriorities(t *testing.T) {
	cases := []struct {
		name      string
		rate      [shedding.NumPriorities]float64
		high, low shedding.Priority
	}{
		// Half the capacity of default work under 2.5 C of sheddable work.
		{"default-over-sheddable", [3]float64{2.5 * simC, 0.5 * simC, 0}, shedding.Default, shedding.Sheddable},
		// A tenth of critical work (health checks, payments) in a flood
		// of 3 C of default work.
		{"critical-over-default", [3]float64{0, 3 * simC, 0.1 * simC}, shedding.Critical, shedding.Default},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forLimSeeds(t, func(t *testing.T, seed uint64) {
				s, _ := newLimitedSim(t, seed)
				s.run(limPhase{d: 60 * time.Second, rate: tc.rate, workers: simW, service: simS})
				tot := s.totals(5, 60)
				hi, lo := tc.high.Index(), tc.low.Index()
				hiOK := float64(tot.ok[hi]) / float64(tot.offered[hi])
				loOK := float64(tot.ok[lo]) / float64(tot.offered[lo])
				t.Logf("%v: %.1f%% succeed, %v: %.1f%% succeed; goodput %.1f%% of C, limit %d..%d",
					tc.high, 100*hiOK, tc.low, 100*loOK, 100*float64(tot.goodput())/55/simC, tot.minLimit, tot.maxLimit)
				assert.GreaterOrEqual(t, hiOK, 0.95, "share of the high class that succeeds")
				assert.Less(t, loOK, 0.5, "the low class is cut")
				assert.GreaterOrEqual(t, float64(tot.goodput())/55, 0.9*simC, "goodput")
				assert.Equal(t, 0, tot.timeouts)
			})
		})
	}
}

// Behaviour 7: a flood arriving after a spell of light load, as in the
// flood demo (bench/flood). The limit must not sit far above the demand of
// the light load, or the flood's onset admits that many calls at once and
// the dependency queues them for a second before the limit comes down.
// Here a small dependency (8 workers, 80 ms: 100 calls a second) serves
// half its capacity (about 4 calls in flight) for 3 s, then 3 times its
// capacity for 10 s: p99 of the successful calls over the whole flood,
// from its first second, stays <= T/2, with goodput >= 90% of C from 5 s
// in.
func TestLimiterFloodOnset(t *testing.T) {
	const w, svc = 8, 80 * time.Millisecond
	c := float64(w) / svc.Seconds()
	phase := func(d time.Duration, perSecond float64) limPhase {
		return limPhase{d: d, rate: [shedding.NumPriorities]float64{0, perSecond, 0}, workers: w, service: svc}
	}
	forLimSeeds(t, func(t *testing.T, seed uint64) {
		s, l := newLimitedSim(t, seed)
		s.from = 3
		s.run(phase(3*time.Second, 0.5*c))
		before := l.Limit()
		s.run(phase(10*time.Second, 3*c))
		light, flood, steady := s.totals(0, 3), s.totals(3, 13), s.totals(8, 13)
		p99 := s.lat.quantile(0.99)
		t.Logf("light load: limit %d..%d, %d at the onset, %d rejected; flood: p99 %v, goodput %.1f%% of C from 5 s in, first second %d ok, %d timeouts, limit %d..%d",
			light.minLimit, light.maxLimit, before, light.rejections(), p99, 100*float64(steady.goodput())/5/c, s.secs[3].goodput(), flood.timeouts, flood.minLimit, flood.maxLimit)
		assert.Equal(t, 0, light.rejections(), "rejections under the light load")
		assert.LessOrEqual(t, p99, simTimeout/2, "p99 of successful calls over the whole flood")
		assert.GreaterOrEqual(t, float64(steady.goodput())/5, 0.9*c, "goodput from 5 s into the flood")
	})
}
