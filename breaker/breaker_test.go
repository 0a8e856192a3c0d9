package breaker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/breaker"
)

func TestNewRefusesInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  breaker.Option
		want string
	}{
		{"K below 1", breaker.WithK(0.9), "breaker: K must be a finite number of at least 1, got 0.9"},
		{"K NaN", breaker.WithK(math.NaN()), "breaker: K must be a finite number of at least 1, got NaN"},
		{"K Inf", breaker.WithK(math.Inf(1)), "breaker: K must be a finite number of at least 1, got +Inf"},
		{"zero window", breaker.WithWindow(0), "breaker: window must be positive, got 0s"},
		{"negative window", breaker.WithWindow(-time.Second), "breaker: window must be positive, got -1s"},
		{"zero buckets", breaker.WithBuckets(0), "breaker: buckets must be between 1 and 65536, got 0"},
		{"too many buckets", breaker.WithBuckets(1 << 20), "breaker: buckets must be between 1 and 65536, got 1048576"},
		{"negative protection", breaker.WithProtection(-1), "breaker: protection must be a finite number of at least 0, got -1"},
		{"zero probe", breaker.WithProbeInterval(0), "breaker: probe interval must be positive, got 0s"},
		{"zero slow call", breaker.WithSlowCall(0), "breaker: slow-call threshold must be positive, got 0s"},
		{"nil clock", breaker.WithClock(nil), "breaker: nil Clock"},
		{"nil rand", breaker.WithRand(nil), "breaker: nil rand function"},
		{"nil acceptable", breaker.WithAcceptable(nil), "breaker: nil acceptable function"},
		{"nil hook", breaker.WithEventHook(nil), "breaker: nil event hook"},
		{"nil option", nil, "breaker: nil option"},
		{"zero option", breaker.BreakerOption{}, "breaker: zero BreakerOption (make options with the With... functions)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := breaker.New(tc.opt)
			assert.Nil(t, b)
			assert.EqualError(t, err, tc.want)
		})
	}

	_, err := breaker.New(breaker.WithWindow(10*time.Millisecond), breaker.WithBuckets(40))
	assert.EqualError(t, err, "breaker: window 10ms split into 40 buckets gives buckets shorter than 1ms")

	_, err = breaker.New(breaker.WithK(0), breaker.WithBuckets(0))
	assert.ErrorContains(t, err, "K must be")
	assert.ErrorContains(t, err, "buckets must be")

	// The last option of a kind wins.
	_, err = breaker.New(breaker.WithK(0), breaker.WithK(2))
	assert.ErrorContains(t, err, "K must be", "an invalid value is reported even if overridden")
	b, err := breaker.New(breaker.WithK(3), breaker.WithK(1), breaker.WithWindow(time.Second), breaker.WithBuckets(10), breaker.WithProtection(0))
	require.NoError(t, err)
	require.NotNil(t, b)
}

// TestOptionsFitOnlyWhereTheyApply checks the option types: an option
// that does not apply to a constructor does not compile there, so
// breaker.New(breaker.WithMaxBreakers(10)) is a compile error rather than
// an error at run time.
func TestOptionsFitOnlyWhereTheyApply(t *testing.T) {
	option := reflect.TypeOf((*breaker.Option)(nil)).Elem()
	group := reflect.TypeOf((*breaker.GroupOption)(nil)).Elem()
	transport := reflect.TypeOf((*breaker.TransportOption)(nil)).Elem()
	for _, tc := range []struct {
		name                string
		opt                 any
		New, Group, Transpt bool
	}{
		{"WithK", breaker.WithK(2), true, true, true},
		{"WithClock", breaker.WithClock(newFakeClock()), true, true, true},
		{"WithName", breaker.WithName("es"), true, false, false},
		{"WithMaxBreakers", breaker.WithMaxBreakers(10), false, true, true},
		{"WithIdleTimeout", breaker.WithIdleTimeout(time.Minute), false, true, true},
		{"WithKey", breaker.WithKey(hostOf), false, false, true},
		{"WithFailureStatus", breaker.WithFailureStatus(func(int) bool { return true }), false, false, true},
	} {
		typ := reflect.TypeOf(tc.opt)
		assert.Equal(t, tc.New, typ.Implements(option), "%s fits New", tc.name)
		assert.Equal(t, tc.Group, typ.Implements(group), "%s fits NewGroup", tc.name)
		assert.Equal(t, tc.Transpt, typ.Implements(transport), "%s fits NewTransport", tc.name)
	}
}

func TestKAndProtectionShapeTheThrottle(t *testing.T) {
	clk := newFakeClock()
	// K = 1, no protection: one failure among successes throttles at once.
	b, err := breaker.New(breaker.WithClock(clk), breaker.WithK(1), breaker.WithProtection(0))
	require.NoError(t, err)
	for range 9 {
		require.NoError(t, b.Do(context.Background(), func(context.Context) error { return nil }))
	}
	_ = b.Do(context.Background(), func(context.Context) error { return errDown })
	assert.InDelta(t, 1.0/11, b.Stats().Probability, 1e-9) // (10 - 9) / (10 + 1)

	// Defaults: protection absorbs five failures.
	b, err = breaker.New(breaker.WithClock(clk))
	require.NoError(t, err)
	for range 5 {
		_ = b.Do(context.Background(), func(context.Context) error { return errDown })
	}
	assert.Equal(t, 0.0, b.Stats().Probability)
	_ = b.Do(context.Background(), func(context.Context) error { return errDown })
	assert.InDelta(t, 1.0/7, b.Stats().Probability, 1e-9) // (6 - 5) / (6 + 1)
}

func TestWindowForgets(t *testing.T) {
	clk := newFakeClock()
	admitAll := func() float64 { return 0.9999 }
	b, err := breaker.New(breaker.WithClock(clk), breaker.WithRand(admitAll), breaker.WithWindow(time.Second), breaker.WithBuckets(4))
	require.NoError(t, err)
	for range 20 {
		p, err := b.Allow()
		require.NoError(t, err)
		p.Reject()
	}
	st := b.Stats()
	assert.Equal(t, int64(20), st.Calls)
	assert.InDelta(t, 15.0/21, st.Probability, 1e-9)
	assert.False(t, st.Throttling, "evaluated at the next bucket")
	clk.Advance(250 * time.Millisecond)
	assert.True(t, b.Stats().Throttling)

	clk.Advance(500 * time.Millisecond) // bucket 3 of 4: still in the window
	assert.Equal(t, int64(20), b.Stats().Calls)
	clk.Advance(250 * time.Millisecond) // bucket 4: the first has left
	assert.Equal(t, breaker.Stats{}, b.Stats())

	// A long idle gap clears everything.
	_, _ = b.Allow()
	clk.Advance(time.Hour)
	assert.Equal(t, int64(0), b.Stats().Calls)
}

func TestStats(t *testing.T) {
	clk := newFakeClock()
	b, err := breaker.New(breaker.WithClock(clk), breaker.WithRand(func() float64 { return 0 }), breaker.WithProbeInterval(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, breaker.Stats{}, b.Stats())
	for range 3 {
		require.NoError(t, b.Do(context.Background(), func(context.Context) error { return nil }))
	}
	for range 15 {
		_ = b.Do(context.Background(), func(context.Context) error { return errDown })
	}
	// 16 requests with 3 accepts... the breaker starts rejecting once
	// requests - 1.5*3 - 5 > 0, i.e. from the 10th request on, and with
	// rand at 0 it rejects every call once the probability is positive.
	st := b.Stats()
	assert.Equal(t, int64(18), st.Calls)
	assert.Equal(t, int64(3), st.Accepts)
	assert.Equal(t, int64(10), st.Requests)
	assert.Equal(t, int64(8), st.Rejections)
	assert.InDelta(t, (10-4.5-5)/11.0, st.Probability, 1e-9)
}

func TestProbeLetsACallThroughEveryInterval(t *testing.T) {
	clk := newFakeClock()
	draw := 0.9999 // admit while setting up
	b, err := breaker.New(breaker.WithClock(clk), breaker.WithRand(func() float64 { return draw }), breaker.WithProbeInterval(time.Second))
	require.NoError(t, err)
	for range 100 { // probability (100-5)/101 = 0.94: almost all rejected
		_ = b.Do(context.Background(), func(context.Context) error { return errDown })
	}
	draw = 0 // from now on the formula rejects every call
	admitted := 0
	for i := range 9_000 { // 9 s at 1000/s, before the failures leave the window
		clk.Advance(time.Millisecond)
		if p, err := b.Allow(); err == nil {
			admitted++
			p.Reject()
			assert.Zero(t, (i+1)%1000, "probe at call %d", i)
		}
	}
	assert.Equal(t, 9, admitted)
}

// The probe is for a breaker that rejects almost everything. Below a
// rejection probability of 0.9 it stays out of the way, so that a call
// every second (each a probe interval after the last) is still throttled
// by the formula.
func TestProbeLeavesTheFormulaAloneBelowNinetyPercent(t *testing.T) {
	clk := newFakeClock()
	never := func() float64 { return 0 } // rejects every call the formula may reject
	b, err := breaker.New(breaker.WithClock(clk), breaker.WithRand(never))
	require.NoError(t, err)
	for range 20 { // probability (20-5)/21 = 0.71
		clk.Advance(100 * time.Millisecond)
		_ = b.Do(context.Background(), func(context.Context) error { return errDown })
	}
	rejected := 0
	for range 5 {
		clk.Advance(time.Second) // twice the probe interval
		if _, err := b.Allow(); err != nil {
			rejected++
		}
	}
	assert.Equal(t, 5, rejected, "calls a second apart rejected by the formula")
}

func TestFallback(t *testing.T) {
	b, err := breaker.New(breaker.WithRand(func() float64 { return 0 }), breaker.WithProbeInterval(time.Hour))
	require.NoError(t, err)
	fallback := func(_ context.Context, err error) error {
		assert.ErrorIs(t, err, breaker.ErrServiceUnavailable)
		return nil
	}
	called := 0
	for range 10 {
		err := b.DoWithFallback(context.Background(), func(context.Context) error { called++; return errDown }, fallback)
		if err != nil {
			assert.Equal(t, errDown, err, "fn's own error does not go through the fallback")
		}
	}
	assert.Equal(t, 6, called) // the 7th call finds (6-5)/7 > 0
	assert.Equal(t, int64(4), b.Stats().Rejections)
}

func TestRejectionErrors(t *testing.T) {
	reject := []breaker.Option{breaker.WithRand(func() float64 { return 0 }), breaker.WithProtection(0), breaker.WithProbeInterval(time.Hour)}

	b, err := breaker.New(reject...)
	require.NoError(t, err)
	p, err := b.Allow()
	require.NoError(t, err)
	p.Reject()
	p, err = b.Allow()
	assert.Same(t, breaker.ErrServiceUnavailable, err)
	assert.Equal(t, breaker.Promise{}, p)
	p.Accept() // the zero Promise does nothing
	p.Reject()
	p.Done(nil)
	assert.Equal(t, int64(1), b.Stats().Requests)
	assert.Equal(t, "breaker: service unavailable", err.Error())

	named, err := breaker.New(append(reject, breaker.WithName("es-main"))...)
	require.NoError(t, err)
	assert.Equal(t, "es-main", named.Name())
	_ = named.Do(context.Background(), func(context.Context) error { return errDown })
	err = named.Do(context.Background(), func(context.Context) error { return nil })
	assert.ErrorIs(t, err, breaker.ErrServiceUnavailable)
	assert.EqualError(t, err, "breaker: es-main: service unavailable")
	var re *breaker.RejectedError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "es-main", re.Name)
}

func TestEventHook(t *testing.T) {
	clk := newFakeClock()
	var b *breaker.Breaker
	var events []breaker.Event
	hook := func(e breaker.Event) {
		events = append(events, e)
		_ = b.Stats() // would deadlock if the hook ran under the breaker's lock
	}
	b, err := breaker.New(breaker.WithClock(clk), breaker.WithName("db"), breaker.WithEventHook(hook),
		breaker.WithRand(rngFloat(7)))
	require.NoError(t, err)
	step := func(n int, fail bool) {
		for range n {
			clk.Advance(time.Millisecond)
			_ = b.Do(context.Background(), func(context.Context) error {
				if fail {
					return errDown
				}
				return nil
			})
		}
	}
	step(5000, false)
	assert.Empty(t, events)
	step(20_000, true)
	require.Len(t, events, 1)
	assert.Equal(t, "db", events[0].Name)
	assert.True(t, events[0].Throttling)
	assert.Greater(t, events[0].Probability, 0.0)
	step(20_000, true)
	assert.Len(t, events, 1, "one event per transition")
	step(20_000, false)
	require.Len(t, events, 2)
	assert.False(t, events[1].Throttling)
	assert.Equal(t, 0.0, events[1].Probability)
	assert.True(t, events[1].Time.After(events[0].Time))
	assert.False(t, b.Stats().Throttling)
}

func TestConcurrentUse(t *testing.T) {
	var n atomic.Int64
	b, err := breaker.New(breaker.WithWindow(100*time.Millisecond), breaker.WithBuckets(10))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				err := b.Do(context.Background(), func(context.Context) error {
					n.Add(1)
					if (i+g)%3 == 0 {
						return errDown
					}
					return nil
				})
				if err != nil && !errors.Is(err, errDown) {
					assert.ErrorIs(t, err, breaker.ErrServiceUnavailable)
				}
				if i%100 == 0 {
					_ = b.Stats()
				}
			}
		}()
	}
	wg.Wait()
	assert.Greater(t, n.Load(), int64(0))
}

func TestZeroAllocations(t *testing.T) {
	b, err := breaker.New(breaker.WithName("x"))
	require.NoError(t, err)
	fn := func(context.Context) error { return nil }
	ctx := context.Background()
	assert.Equal(t, 0.0, testing.AllocsPerRun(1000, func() {
		p, _ := b.Allow()
		p.Accept()
	}), "Allow+Accept")
	assert.Equal(t, 0.0, testing.AllocsPerRun(1000, func() { _ = b.Do(ctx, fn) }), "Do")

	open, err := breaker.New(breaker.WithName("y"), breaker.WithProbeInterval(time.Hour))
	require.NoError(t, err)
	for range 100 {
		_ = open.Do(ctx, func(context.Context) error { return errDown })
	}
	assert.Equal(t, 0.0, testing.AllocsPerRun(1000, func() { _ = open.Do(ctx, fn) }), "reject")
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "probability" {
				return slog.Attr{}
			}
			return a
		},
	}))
	clk := newFakeClock()
	b, err := breaker.New(breaker.WithClock(clk), breaker.WithName("es"), breaker.WithLogger(logger), breaker.WithRand(rngFloat(3)))
	require.NoError(t, err)
	for _, fail := range []bool{true, false} {
		for range 30_000 {
			clk.Advance(time.Millisecond)
			_ = b.Do(context.Background(), func(context.Context) error {
				if fail {
					return errDown
				}
				return nil
			})
		}
	}
	assert.Equal(t, "level=WARN msg=\"breaker: throttling started\" breaker=es\n"+
		"level=INFO msg=\"breaker: throttling stopped\" breaker=es\n", buf.String())

	_, err = breaker.New(breaker.WithLogger(nil))
	assert.EqualError(t, err, "breaker: nil logger")
}

func TestCleanBucketHalvesEarlierFailures(t *testing.T) {
	admitAll := func() float64 { return 0.9999 }
	calls := func(b *breaker.Breaker, n int, fail bool) {
		for range n {
			p, err := b.Allow()
			require.NoError(t, err)
			if fail {
				p.Reject()
			} else {
				p.Accept()
			}
		}
	}
	for _, tc := range []struct {
		name                     string
		failures, successes      int // in the first bucket
		clean                    int // successes in the second bucket
		wantRequests, wantAccept int64
	}{
		// (1/22)^3 < 0.001: the dependency has changed.
		{"after an outage, three clean successes", 20, 0, 3, 10 + 3, 3},
		// (1/22)^2 >= 0.001: two could be chance.
		{"after an outage, two clean successes", 20, 0, 2, 20 + 2, 2},
		// (6/12)^3: at a 50 % success rate, three in a row is no news.
		{"at a steady 50 %", 5, 5, 3, 10 + 3, 5 + 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			b, err := breaker.New(breaker.WithClock(clk), breaker.WithRand(admitAll),
				breaker.WithWindow(time.Second), breaker.WithBuckets(4))
			require.NoError(t, err)
			calls(b, tc.failures, true)
			calls(b, tc.successes, false)
			clk.Advance(250 * time.Millisecond)
			calls(b, tc.clean, false)
			clk.Advance(250 * time.Millisecond)
			st := b.Stats()
			assert.Equal(t, tc.wantRequests, st.Requests)
			assert.Equal(t, tc.wantAccept, st.Accepts)
		})
	}
}
