package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/breaker"
)

// The tests in this file are the behaviours the breaker promises, each
// run on a fake clock with a seeded random source, so every number below
// is reproducible.

// simSeed seeds the simulations.
var simSeed uint64 = 1

var errDown = errors.New("dependency down")

// slice is the tally of one slice of simulated time.
type slice struct {
	offered, admitted int
}

func (s slice) ratio() float64 { return float64(s.admitted) / float64(s.offered) }

// sim offers calls to a breaker at a fixed rate on a fake clock.
type sim struct {
	t    *testing.T
	clk  *fakeClock
	b    *breaker.Breaker
	rng  *rand.Rand // outcomes of the dependency
	at   time.Duration
	step time.Duration // length of a tally slice
}

func newSim(t *testing.T, opts ...breaker.Option) *sim {
	t.Helper()
	return newSeededSim(t, simSeed, opts...)
}

func newSeededSim(t *testing.T, simSeed uint64, opts ...breaker.Option) *sim {
	t.Helper()
	clk := newFakeClock()
	breakerRand := rand.New(rand.NewPCG(simSeed, 2))
	opts = append([]breaker.Option{breaker.WithClock(clk), breaker.WithRand(breakerRand.Float64)}, opts...)
	b, err := breaker.New(opts...)
	require.NoError(t, err)
	return &sim{t: t, clk: clk, b: b, rng: rand.New(rand.NewPCG(simSeed, 4)), step: 100 * time.Millisecond}
}

// run offers rate calls per second for d through Breaker.Do; each admitted
// call succeeds with probability success. It returns one tally per step.
func (s *sim) run(rate int, d time.Duration, success float64) []slice {
	s.t.Helper()
	interval := time.Second / time.Duration(rate)
	calls := int(d / interval)
	var out []slice
	var cur slice
	sliceEnd := s.at + s.step
	for range calls {
		s.clk.Advance(interval)
		s.at += interval
		for s.at > sliceEnd {
			out = append(out, cur)
			cur = slice{}
			sliceEnd += s.step
		}
		cur.offered++
		err := s.b.Do(context.Background(), func(context.Context) error {
			cur.admitted++
			if success >= 1 || s.rng.Float64() < success {
				return nil
			}
			return errDown
		})
		if err != nil && !errors.Is(err, errDown) {
			require.ErrorIs(s.t, err, breaker.ErrServiceUnavailable)
		}
	}
	return append(out, cur)
}

// sum adds up the slices covering [from, to) of a run's tallies.
func sum(slices []slice, step, from, to time.Duration) slice {
	var t slice
	for i := int(from / step); i < int(to/step) && i < len(slices); i++ {
		t.offered += slices[i].offered
		t.admitted += slices[i].admitted
	}
	return t
}

// Behaviour 1: a healthy dependency sees no rejection, whatever the rate.
func TestHealthyDependencyIsNeverThrottled(t *testing.T) {
	for _, rate := range []int{1000, 1} {
		t.Run(fmt.Sprintf("%d/s", rate), func(t *testing.T) {
			s := newSim(t)
			if rate < 10 {
				s.step = time.Second // fewer tallies to keep
			}
			const calls = 100_000
			tallies := s.run(rate, time.Duration(calls)*time.Second/time.Duration(rate), 1)
			total := sum(tallies, s.step, 0, time.Duration(len(tallies))*s.step)
			assert.Equal(t, calls, total.offered)
			assert.Equal(t, calls, total.admitted, "rejections")
		})
	}
}

// Behaviour 2: in a total outage the breaker stops nearly all calls, but
// still probes the dependency every second.
func TestTotalOutageIsThrottledButProbed(t *testing.T) {
	s := newSim(t)
	s.run(1000, 20*time.Second, 1)
	outage := s.run(1000, 120*time.Second, 0)

	mid := sum(outage, s.step, 10*time.Second, 20*time.Second)
	assert.Equal(t, 10_000, mid.offered)
	assert.LessOrEqual(t, mid.ratio(), 0.02, "admitted %d of %d calls 10-20 s into the outage", mid.admitted, mid.offered)

	for sec := time.Duration(0); sec < 120*time.Second; sec += time.Second {
		got := sum(outage, s.step, sec, sec+time.Second)
		require.GreaterOrEqual(t, got.admitted, 1, "no call reached the dependency in second %v of the outage", sec)
	}

	// The documented price of counting only calls that reached the
	// dependency: a steady trickle of about sqrt(6*1000*10) = 245 requests
	// per window, 2.5 %.
	steady := sum(outage, s.step, 20*time.Second, 60*time.Second)
	assert.LessOrEqual(t, steady.ratio(), 0.026, "share admitted 20-60 s into the outage")
	late := sum(outage, s.step, 60*time.Second, 120*time.Second)
	assert.InDelta(t, 0.025, late.ratio(), 0.005, "steady-state share admitted in a long outage")
	t.Logf("admitted 10-20 s into the outage: %d of %d (%.2f%%); 60-120 s: %.2f%%", mid.admitted, mid.offered, 100*mid.ratio(), 100*late.ratio())
}

// Behaviour 2, steady state: in a long total outage the admitted calls
// settle where r = sqrt((protection+1)*rate*window) requests fill the
// window, sqrt(6*1000*10) = 245 per 10 s at 1,000 calls/s: 2.45 %. That
// holds from about 20 s into the outage on, whether it started after a
// healthy spell or on a cold breaker; before that the share depends on
// what the window held when the outage began.
func TestTotalOutageSteadyStateLeakage(t *testing.T) {
	// A cold breaker here; after a healthy spell in
	// TestTotalOutageIsThrottledButProbed.
	for seed := range uint64(2) {
		s := newSeededSim(t, seed+1)
		outage := s.run(1000, 60*time.Second, 0)
		steady := sum(outage, s.step, 20*time.Second, 60*time.Second)
		assert.Equal(t, 40_000, steady.offered)
		assert.LessOrEqual(t, steady.ratio(), 0.026, "seed %d: share admitted 20-60 s into the outage", seed+1)
		assert.InDelta(t, 0.0245, steady.ratio(), 0.002, "seed %d: the square-root law", seed+1)
		t.Logf("seed %d: admitted 20-60 s into a cold outage: %d of %d (%.2f%%)", seed+1, steady.admitted, steady.offered, 100*steady.ratio())
	}
}

// Behaviour 2 at low traffic: the formula throttles a dead dependency at
// one call a second as well, and the probe does not switch it off. With
// requests counting only admitted calls, the formula rejects about 27 %
// of the calls at 1 call/s and 66 % at 5 calls/s once the outage fills the
// window (seconds 20-60).
func TestLowTrafficOutageIsThrottled(t *testing.T) {
	for _, tc := range []struct {
		rate    int
		minRej  float64
		healthy bool
	}{
		{1, 0.20, false}, {1, 0.20, true},
		{2, 0.40, false}, {2, 0.40, true},
		{5, 0.60, false}, {5, 0.60, true},
	} {
		t.Run(fmt.Sprintf("%d/s after healthy spell=%v", tc.rate, tc.healthy), func(t *testing.T) {
			var total slice
			for seed := range uint64(20) {
				s := newSeededSim(t, seed+1)
				s.step = time.Second
				if tc.healthy {
					s.run(tc.rate, 20*time.Second, 1)
				}
				outage := s.run(tc.rate, 60*time.Second, 0)
				got := sum(outage, s.step, 20*time.Second, 60*time.Second)
				total.offered += got.offered
				total.admitted += got.admitted
			}
			rejected := 1 - total.ratio()
			assert.Equal(t, 20*40*tc.rate, total.offered)
			assert.GreaterOrEqual(t, rejected, tc.minRej, "share rejected 20-60 s into the outage, over 20 seeds")
			t.Logf("%d calls/s: rejected %.1f%% of %d calls 20-60 s into the outage", tc.rate, 100*rejected, total.offered)
		})
	}
}

// Behaviour 3: a dependency failing for reasons other than load gets
// min(1, K*s) of the calls.
func TestPartialFailureAdmitsKTimesSuccessRate(t *testing.T) {
	for _, tc := range []struct {
		success, want float64
	}{
		{0.9, 1.0},
		{0.5, 0.75},
		{0.2, 0.30},
	} {
		t.Run(fmt.Sprint(tc.success), func(t *testing.T) {
			s := newSim(t)
			tallies := s.run(1000, 80*time.Second, tc.success)
			steady := sum(tallies, s.step, 20*time.Second, 80*time.Second)
			assert.InDelta(t, tc.want, steady.ratio(), 0.05, "share admitted at success rate %v", tc.success)
			t.Logf("success rate %v: admitted %.3f, want %.2f", tc.success, steady.ratio(), tc.want)
		})
	}
}

// recovery returns how long after healing the breaker first admitted 95%
// of the calls of a slice, asserts that this came within limit, and that no
// later slice fell below 95% again.
func (s *sim) recovery(healed []slice, limit time.Duration) time.Duration {
	s.t.Helper()
	first := -1
	for i, sl := range healed {
		if sl.ratio() >= 0.95 {
			first = i
			break
		}
	}
	require.GreaterOrEqual(s.t, first, 0, "never admitted 95%% again")
	recovered := time.Duration(first+1) * s.step
	assert.LessOrEqual(s.t, recovered, limit, "95%% of calls admitted again after %v", recovered)
	for i := first; i < len(healed); i++ {
		require.GreaterOrEqual(s.t, healed[i].ratio(), 0.95, "slice %v after healing admitted %d of %d",
			time.Duration(i)*s.step, healed[i].admitted, healed[i].offered)
	}
	return recovered
}

// Behaviour 4: after a long outage the breaker opens up again within
// two seconds of the dependency healing.
func TestRecoveryAfterLongOutage(t *testing.T) {
	s := newSim(t)
	s.run(1000, 20*time.Second, 1)
	s.run(1000, 120*time.Second, 0)
	recovered := s.recovery(s.run(1000, 20*time.Second, 1), 2*time.Second)
	t.Logf("95%% admitted again %v after healing", recovered)
	assert.Equal(t, 0.0, s.b.Stats().Probability)
}

// Beyond the contract: short outages are forgotten quickly too. The
// failures admitted while the breaker was tripping would otherwise hold it
// shut until they left the window, up to 10 s after the dependency healed.
func TestRecoveryAfterShortOutage(t *testing.T) {
	for _, outage := range []time.Duration{2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second} {
		t.Run(outage.String(), func(t *testing.T) {
			s := newSim(t)
			s.run(1000, 20*time.Second, 1)
			s.run(1000, outage, 0)
			recovered := s.recovery(s.run(1000, 20*time.Second, 1), 3*time.Second)
			t.Logf("after a %v outage, 95%% admitted again %v after healing", outage, recovered)
		})
	}
}

// Behaviour 5: acceptable errors and the caller's own cancellation are
// not failures; a missed deadline is.
func TestErrorClassification(t *testing.T) {
	errNotFound := errors.New("elasticsearch: 404 not found")
	redisNil := errors.New("redis: nil")
	acceptable := func(err error) bool { return errors.Is(err, errNotFound) || errors.Is(err, redisNil) }

	canceledCtx := func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	for _, tc := range []struct {
		name     string
		err      error
		cancel   bool // the caller cancels ctx during the call
		requests int64
		accepts  int64
		throttle bool // does a flood of such outcomes throttle?
	}{
		{"nil", nil, false, 1, 1, false},
		{"acceptable 404", errNotFound, false, 1, 1, false},
		{"acceptable redis.Nil wrapped", fmt.Errorf("get: %w", redisNil), false, 1, 1, false},
		{"caller canceled", context.Canceled, true, 0, 0, false},
		{"error after caller canceled", errors.New("connection reset"), true, 0, 0, false},
		{"deadline exceeded", context.DeadlineExceeded, false, 1, 0, true},
		{"other error", errDown, false, 1, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			b, err := breaker.New(breaker.WithClock(clk), breaker.WithAcceptable(acceptable))
			require.NoError(t, err)
			call := func() error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				return b.Do(ctx, func(context.Context) error {
					if tc.cancel {
						cancel()
					}
					return tc.err
				})
			}
			assert.Equal(t, tc.err, call())
			st := b.Stats()
			assert.Equal(t, tc.requests, st.Requests, "requests")
			assert.Equal(t, tc.accepts, st.Accepts, "accepts")

			rejected := 0
			for range 1000 {
				clk.Advance(time.Millisecond)
				if errors.Is(call(), breaker.ErrServiceUnavailable) {
					rejected++
				}
			}
			if tc.throttle {
				assert.Greater(t, rejected, 800, "rejections after 1000 failures")
			} else {
				assert.Equal(t, 0, rejected, "rejections")
			}
		})
	}

	t.Run("already canceled", func(t *testing.T) {
		b, err := breaker.New()
		require.NoError(t, err)
		called := false
		err = b.Do(canceledCtx(), func(context.Context) error { called = true; return nil })
		assert.ErrorIs(t, err, context.Canceled)
		assert.False(t, called)
		assert.Equal(t, breaker.Stats{}, b.Stats())
	})

	t.Run("promise", func(t *testing.T) {
		b, err := breaker.New(breaker.WithAcceptable(acceptable))
		require.NoError(t, err)
		for _, e := range []error{nil, errNotFound, context.Canceled, context.DeadlineExceeded, errDown} {
			p, err := b.Allow()
			require.NoError(t, err)
			p.Done(e)
		}
		st := b.Stats()
		assert.Equal(t, int64(4), st.Requests)
		assert.Equal(t, int64(2), st.Accepts)
	})
}

// Behaviour 6: a panic in the protected call is a failure and reaches the
// caller unchanged.
func TestPanicCountsAsFailureAndIsReraised(t *testing.T) {
	b, err := breaker.New(breaker.WithClock(newFakeClock()), breaker.WithRand(func() float64 { return 0.9999 }))
	require.NoError(t, err)
	type boom struct{ n int }
	var got any
	func() {
		defer func() { got = recover() }()
		_ = b.Do(context.Background(), func(context.Context) error { panic(boom{42}) })
	}()
	assert.Equal(t, boom{42}, got)
	st := b.Stats()
	assert.Equal(t, int64(1), st.Requests)
	assert.Equal(t, int64(0), st.Accepts)

	// Enough panics throttle like any failure.
	for range 20 {
		func() {
			defer func() { _ = recover() }()
			_ = b.Do(context.Background(), func(context.Context) error { panic("again") })
		}()
	}
	assert.InDelta(t, (21-5)/22.0, b.Stats().Probability, 1e-9)
}

// Behaviour 7: with a slow-call threshold, a slow success is a failure.
func TestSlowCallCountsAsFailure(t *testing.T) {
	clk := newFakeClock()
	b, err := breaker.New(breaker.WithClock(clk), breaker.WithSlowCall(100*time.Millisecond))
	require.NoError(t, err)
	for _, tc := range []struct {
		took    time.Duration
		err     error
		accepts int64
	}{
		{50 * time.Millisecond, nil, 1},
		{100 * time.Millisecond, nil, 1}, // at the threshold is not slower than it
		{101 * time.Millisecond, nil, 0},
		{time.Second, nil, 0},
		{time.Second, errDown, 0},
	} {
		before := b.Stats()
		err := b.Do(context.Background(), func(context.Context) error {
			clk.Advance(tc.took)
			return tc.err
		})
		assert.Equal(t, tc.err, err)
		after := b.Stats()
		assert.Equal(t, before.Requests+1, after.Requests, "took %v", tc.took)
		assert.Equal(t, before.Accepts+tc.accepts, after.Accepts, "took %v", tc.took)
	}

	// The two-step form measures from Allow to Accept.
	p, err := b.Allow()
	require.NoError(t, err)
	clk.Advance(time.Second)
	before := b.Stats()
	p.Accept()
	after := b.Stats()
	assert.Equal(t, before.Requests+1, after.Requests)
	assert.Equal(t, before.Accepts, after.Accepts)

	// Without the option, duration does not matter.
	b, err = breaker.New(breaker.WithClock(clk))
	require.NoError(t, err)
	require.NoError(t, b.Do(context.Background(), func(context.Context) error { clk.Advance(time.Second); return nil }))
	assert.Equal(t, int64(1), b.Stats().Accepts)
}
