package shedding_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/shedding"
)

func TestNewLimiterRejectsInvalidOptions(t *testing.T) {
	cases := []struct {
		opt  shedding.LimiterOption
		want string
	}{
		{shedding.LimiterOption{}, "zero LimiterOption"},
		{shedding.WithInitialLimit(0), "initial limit must be between 1 and 1048576, got 0"},
		{shedding.WithMinLimit(-1), "min limit must be between 1 and 1048576, got -1"},
		{shedding.WithMaxLimit(shedding.MaxLimit + 1), "max limit must be between 1 and 1048576, got 1048577"},
		{shedding.WithTolerance(1), "tolerance must be above 1 and at most 10, got 1"},
		{shedding.WithTolerance(0.5), "got 0.5"},
		{shedding.WithTolerance(11), "got 11"},
		{shedding.WithWindow(time.Microsecond), "window must be between 1ms and 1m0s, got 1µs"},
		{shedding.WithWindow(time.Hour), "got 1h0m0s"},
		{shedding.WithProbeInterval(time.Millisecond), "probe interval must be between 1s and 24h0m0s, got 1ms"},
		{shedding.WithMaxWait(-time.Second), "max wait must be between 0 and 1m0s, got -1s"},
		{shedding.WithMaxWait(time.Hour), "got 1h0m0s"},
		{shedding.WithMaxQueue(0), "max queue must be between 1 and 1048576, got 0"},
		{shedding.WithOverload(nil), "nil overload function"},
		{shedding.WithLimiterClock(nil), "nil Clock"},
		{shedding.WithLimiterEventHook(nil), "nil event hook"},
		{shedding.WithLimiterLogger(nil), "nil logger"},
	}
	for i, tc := range cases {
		l, err := shedding.NewLimiter(tc.opt)
		require.Error(t, err, "case %d", i)
		assert.Nil(t, l)
		assert.Contains(t, err.Error(), tc.want, "case %d", i)
		assert.Contains(t, err.Error(), "shedding: ", "case %d", i)
	}

	_, err := shedding.NewLimiter(shedding.WithMinLimit(10), shedding.WithMaxLimit(5))
	require.EqualError(t, err, "shedding: min limit 10 is above max limit 5")
	_, err = shedding.NewLimiter(shedding.WithInitialLimit(50), shedding.WithMaxLimit(20))
	require.EqualError(t, err, "shedding: initial limit 50 is outside [min 4, max 20]")
	// Every invalid option is named at once.
	_, err = shedding.NewLimiter(shedding.WithInitialLimit(0), shedding.WithWindow(0))
	require.ErrorContains(t, err, "initial limit")
	require.ErrorContains(t, err, "window")
}

func TestNewLimiterDefaults(t *testing.T) {
	l, err := shedding.NewLimiter()
	require.NoError(t, err)
	assert.Equal(t, shedding.DefaultInitialLimit, l.Limit())
	s := l.Stats()
	assert.Equal(t, shedding.DefaultInitialLimit, s.Limit)
	assert.Zero(t, s.Baseline)
	assert.False(t, s.Probing)

	// Without an initial limit, the default is clamped into [min, max].
	l, err = shedding.NewLimiter(shedding.WithMaxLimit(20))
	require.NoError(t, err)
	assert.Equal(t, 20, l.Limit())
	// The largest limits allocate nothing in proportion.
	l, err = shedding.NewLimiter(shedding.WithMinLimit(shedding.MaxLimit), shedding.WithMaxLimit(shedding.MaxLimit), shedding.WithMaxQueue(shedding.MaxQueue))
	require.NoError(t, err)
	assert.Equal(t, shedding.MaxLimit, l.Limit())
}

func newTestLimiter(t *testing.T, clk shedding.Clock, opts ...shedding.LimiterOption) *shedding.Limiter {
	t.Helper()
	opts = append([]shedding.LimiterOption{shedding.WithLimiterClock(clk)}, opts...)
	l, err := shedding.NewLimiter(opts...)
	require.NoError(t, err)
	return l
}

func TestLimiterCapsEachClass(t *testing.T) {
	l := newTestLimiter(t, newFakeClock(), shedding.WithMinLimit(1), shedding.WithInitialLimit(10), shedding.WithLimiterName("es-1:9200"))
	take := func(p shedding.Priority) (n int, err error) {
		for {
			_, err := l.TryAcquirePriority(p)
			if err != nil {
				return n, err
			}
			n++
		}
	}
	// Sheddable work fills half the limit, default work the rest of it,
	// critical work a quarter more.
	n, err := take(shedding.Sheddable)
	assert.Equal(t, 5, n)
	require.ErrorIs(t, err, shedding.ErrLimited)
	var le *shedding.LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "es-1:9200", le.Name)
	assert.EqualError(t, err, "shedding: es-1:9200: concurrency limit reached")
	n, _ = take(shedding.Default)
	assert.Equal(t, 5, n)
	n, _ = take(shedding.Critical)
	assert.Equal(t, 3, n)

	s := l.Stats()
	assert.Equal(t, 13, s.InFlight)
	assert.Equal(t, [shedding.NumPriorities]int64{5, 5, 3}, s.Acquired)
	assert.Equal(t, [shedding.NumPriorities]int64{1, 1, 1}, s.Rejected)

	_, err = l.TryAcquirePriority(shedding.Priority(7))
	require.EqualError(t, err, "shedding: invalid priority 7")
	_, err = l.AcquirePriority(context.Background(), shedding.Priority(-3))
	require.Error(t, err)
}

func TestLimiterUnnamedRejectsWithSentinel(t *testing.T) {
	l := newTestLimiter(t, newFakeClock(), shedding.WithMinLimit(1), shedding.WithInitialLimit(1))
	p, err := l.TryAcquire()
	require.NoError(t, err)
	_, err = l.TryAcquire()
	require.Same(t, shedding.ErrLimited, err)
	p.Release()
	_, err = l.TryAcquire()
	require.NoError(t, err)

	// The zero Permit ignores every report.
	var zero shedding.Permit
	zero.Done(nil)
	zero.Drop()
	zero.Release()
	assert.Equal(t, 1, l.Stats().InFlight)
}

// run makes n calls of latency d one after the other on clk, each ended
// with err.
func runCalls(t *testing.T, l *shedding.Limiter, clk *fakeClock, n int, d time.Duration, err error) {
	t.Helper()
	for range n {
		p, aerr := l.TryAcquire()
		require.NoError(t, aerr)
		clk.Advance(d)
		p.Done(err)
	}
}

// runHalf makes calls of latency d on clk, ended with nil, keeping half
// the limit in flight, until a cold limiter's first window closes: a clean
// window (the dependency is not queueing) that becomes the baseline, and
// uses enough of the limit that the limit neither grows nor decays.
func runHalf(t *testing.T, l *shedding.Limiter, clk *fakeClock, d time.Duration) {
	t.Helper()
	k := max(1, l.Limit()/2)
	step := d / time.Duration(k)
	type call struct {
		p     shedding.Permit
		start time.Duration
	}
	var held []call
	for now := time.Duration(0); l.Stats().Baseline == 0; {
		require.Less(t, now, time.Second, "no window closed")
		p, err := l.TryAcquire()
		require.NoError(t, err)
		held = append(held, call{p, now})
		clk.Advance(step)
		now += step
		for len(held) > 0 && held[0].start+d <= now {
			held[0].p.Done(nil)
			held = held[1:]
		}
	}
	for _, c := range held {
		c.p.Release()
	}
}

// saturate keeps the limit full while n calls of latency d end with err,
// so that the windows count as saturated: each call that ends is replaced
// by as many as the limit then admits.
func saturate(t *testing.T, l *shedding.Limiter, clk *fakeClock, n int, d time.Duration, err error) {
	t.Helper()
	var held []shedding.Permit
	fill := func() {
		for {
			p, aerr := l.TryAcquire()
			if aerr != nil {
				return
			}
			held = append(held, p)
		}
	}
	fill()
	for range n {
		require.NotEmpty(t, held)
		clk.Advance(d / time.Duration(len(held)))
		held[0].Done(err)
		held = held[1:]
		fill()
	}
	for _, p := range held {
		p.Release()
	}
}

func TestLimiterOutcomes(t *testing.T) {
	errNotFound := errors.New("not found")
	clk := newFakeClock()
	l := newTestLimiter(t, clk, shedding.WithMinLimit(1), shedding.WithInitialLimit(20), shedding.WithProbeInterval(time.Hour))
	// A cold limiter takes its first clean window as the baseline.
	runHalf(t, l, clk, 10*time.Millisecond)
	s := l.Stats()
	assert.Equal(t, 10*time.Millisecond, s.Baseline)
	assert.Equal(t, 20, s.Limit, "an app-limited window does not grow the limit")

	// Canceled calls and errors that are not load-related teach nothing:
	// no window closes, however long they take.
	runCalls(t, l, clk, 50, time.Second, context.Canceled)
	runCalls(t, l, clk, 50, time.Second, errNotFound)
	s = l.Stats()
	assert.Equal(t, 10*time.Millisecond, s.Baseline)
	assert.Equal(t, 10*time.Millisecond, s.Latency)
	assert.Equal(t, 20, s.Limit)
	assert.Zero(t, s.Drops)

	// Timeouts are overload signals: the limit falls by at least 10%.
	saturate(t, l, clk, 20, 10*time.Millisecond, context.DeadlineExceeded)
	s = l.Stats()
	assert.Equal(t, int64(20), s.Drops)
	assert.LessOrEqual(t, s.Limit, 18)

	// A user's classification: not-found is an answer, ErrOverloaded a drop.
	errOverloaded := errors.New("overloaded")
	l = newTestLimiter(t, clk, shedding.WithOverload(func(err error) bool { return errors.Is(err, errOverloaded) }))
	p, err := l.TryAcquire()
	require.NoError(t, err)
	p.Done(fmt.Errorf("search: %w", errOverloaded))
	p, err = l.TryAcquire()
	require.NoError(t, err)
	p.Done(context.DeadlineExceeded) // not an overload for this user
	p, err = l.TryAcquire()
	require.NoError(t, err)
	p.Drop()
	assert.Equal(t, int64(2), l.Stats().Drops)
}

func TestLimiterGrowsWhileLatencyHolds(t *testing.T) {
	clk := newFakeClock()
	var events []shedding.LimiterEvent
	l := newTestLimiter(t, clk, shedding.WithMinLimit(1), shedding.WithInitialLimit(10), shedding.WithLimiterName("dep"), shedding.WithProbeInterval(time.Hour),
		shedding.WithLimiterEventHook(func(e shedding.LimiterEvent) { events = append(events, e) }))
	runHalf(t, l, clk, 10*time.Millisecond) // baseline
	// Saturated at the baseline latency: the limit grows by √limit a window.
	saturate(t, l, clk, 2000, 10*time.Millisecond, nil)
	s := l.Stats()
	assert.Greater(t, s.Limit, 20)
	require.NotEmpty(t, events)
	e := events[len(events)-1]
	assert.Equal(t, "dep", e.Name)
	assert.Equal(t, s.Limit, e.Limit)
	assert.Greater(t, e.Limit, e.Previous)
	assert.InDelta(t, 10*time.Millisecond, e.Baseline, float64(time.Millisecond))

	// Latency doubles while saturated: in the next window the limit falls
	// to limit × 1.125 / 2, at most halving, and the baseline stays.
	seen := len(events)
	saturate(t, l, clk, 10*l.Limit(), 20*time.Millisecond, nil)
	require.Greater(t, len(events), seen)
	e = events[seen]
	want := max(float64(e.Previous)*1.125*float64(e.Baseline)/float64(e.Latency), float64(e.Previous)/2)
	assert.Greater(t, e.Latency, 3*e.Baseline/2, "%+v", e)
	assert.InDelta(t, want, float64(e.Limit), 1, "%+v", e)
	assert.GreaterOrEqual(t, e.Limit, e.Previous/2)
	assert.LessOrEqual(t, l.Stats().Baseline, 10*time.Millisecond, "the baseline does not follow the queue up")
}

func TestLimiterDo(t *testing.T) {
	l := newTestLimiter(t, newFakeClock(), shedding.WithMinLimit(1), shedding.WithInitialLimit(1))
	errBoom := errors.New("boom")
	ran := 0
	require.NoError(t, l.Do(context.Background(), func(context.Context) error { ran++; return nil }))
	require.ErrorIs(t, l.Do(context.Background(), func(context.Context) error { ran++; return errBoom }), errBoom)
	assert.Equal(t, 2, ran)

	// A panic releases the permit and goes on.
	assert.PanicsWithValue(t, "kaboom", func() {
		_ = l.Do(context.Background(), func(context.Context) error { panic("kaboom") })
	})
	assert.Equal(t, 0, l.Stats().InFlight)

	// Full: Do rejects without running fn.
	p, err := l.TryAcquire()
	require.NoError(t, err)
	require.ErrorIs(t, l.Do(context.Background(), func(context.Context) error { ran++; return nil }), shedding.ErrLimited)
	p.Release()
	// A done context is returned as is.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.Do(ctx, func(context.Context) error { ran++; return nil }), context.Canceled)
	assert.Equal(t, 2, ran)
	assert.Equal(t, int64(1), l.Stats().Rejected[shedding.Default.Index()])
}

func TestLimiterQueue(t *testing.T) {
	l := newTestLimiter(t, newFakeClock(), shedding.WithMinLimit(1), shedding.WithInitialLimit(2), shedding.WithMaxWait(10*time.Second))
	holder, err := l.TryAcquirePriority(shedding.Critical) // fills the limit for every class but critical
	require.NoError(t, err)
	p2, err := l.TryAcquire()
	require.NoError(t, err)

	type result struct {
		p   shedding.Priority
		err error
	}
	results := make(chan result, 3)
	var wg sync.WaitGroup
	wait := func(p shedding.Priority, queued int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pm, err := l.AcquirePriority(context.Background(), p)
			results <- result{p, err}
			if err == nil {
				pm.Release()
			}
		}()
		require.Eventually(t, func() bool { return l.Stats().Queued == queued }, 5*time.Second, time.Millisecond)
	}
	wait(shedding.Sheddable, 1)
	wait(shedding.Default, 2)
	// One slot frees: the default waiter goes first though it came second.
	p2.Release()
	r := <-results
	assert.Equal(t, result{shedding.Default, nil}, r)
	// The default waiter released at once; the sheddable one fits only
	// once the in-flight count is under half the limit.
	holder.Release()
	r = <-results
	assert.Equal(t, result{shedding.Sheddable, nil}, r)
	wg.Wait()
	assert.Equal(t, 0, l.Stats().Queued)
	assert.Equal(t, 0, l.Stats().InFlight)
	assert.Equal(t, [shedding.NumPriorities]int64{0, 0, 0}, l.Stats().Rejected)
}

func TestLimiterQueueTimeoutAndCancel(t *testing.T) {
	l := newTestLimiter(t, newFakeClock(), shedding.WithMinLimit(1), shedding.WithInitialLimit(1), shedding.WithMaxWait(20*time.Millisecond), shedding.WithMaxQueue(1))
	p, err := l.TryAcquire()
	require.NoError(t, err)
	defer p.Release()
	// The max wait passes: rejected.
	start := time.Now()
	_, err = l.Acquire(context.Background())
	require.ErrorIs(t, err, shedding.ErrLimited)
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
	assert.Equal(t, int64(1), l.Stats().Rejected[shedding.Default.Index()])

	// The caller's own cancellation is returned and is not a rejection.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	l2 := newTestLimiter(t, newFakeClock(), shedding.WithMinLimit(1), shedding.WithInitialLimit(1), shedding.WithMaxWait(time.Minute), shedding.WithMaxQueue(1))
	p2, err := l2.TryAcquire()
	require.NoError(t, err)
	defer p2.Release()
	go func() {
		_, err := l2.Acquire(ctx)
		done <- err
	}()
	require.Eventually(t, func() bool { return l2.Stats().Queued == 1 }, 5*time.Second, time.Millisecond)
	// The queue holds one: the next caller is rejected at once.
	_, err = l2.Acquire(context.Background())
	require.ErrorIs(t, err, shedding.ErrLimited)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, 0, l2.Stats().Queued)
	assert.Equal(t, int64(1), l2.Stats().Rejected[shedding.Default.Index()])
}

func TestLimiterLogsCutsAtMostEvery10s(t *testing.T) {
	clk := newFakeClock()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	cuts := 0
	l := newTestLimiter(t, clk, shedding.WithMinLimit(1), shedding.WithInitialLimit(40), shedding.WithProbeInterval(time.Hour), shedding.WithLimiterName("dep"), shedding.WithLimiterLogger(logger),
		shedding.WithLimiterEventHook(func(e shedding.LimiterEvent) {
			if e.Limit*4 <= e.Previous*3 {
				cuts++
			}
		}))
	runCalls(t, l, clk, 20, 10*time.Millisecond, nil) // baseline
	// Latency quadruples: the limit is cut window after window, but only
	// the first cut is logged within 10 s.
	saturate(t, l, clk, 400, 40*time.Millisecond, nil)
	assert.GreaterOrEqual(t, cuts, 2)
	logged := strings.Count(buf.String(), "limiter cut the limit")
	assert.Equal(t, 1, logged, buf.String())
	assert.Contains(t, buf.String(), "level=WARN")
	assert.Contains(t, buf.String(), "limiter=dep")
}

// A clock that stands still or steps back, as a user's wall clock may,
// gives no negative or zero latency, and the limiter goes on.
func TestLimiterHostileClock(t *testing.T) {
	clk := newFakeClock()
	l := newTestLimiter(t, clk, shedding.WithMinLimit(1), shedding.WithInitialLimit(10))
	for range 50 {
		p, err := l.TryAcquire()
		require.NoError(t, err)
		clk.Advance(-5 * time.Millisecond)
		p.Done(nil)
		clk.Advance(25 * time.Millisecond)
	}
	s := l.Stats()
	assert.Equal(t, time.Duration(1), s.Baseline)
	assert.Equal(t, 0, s.InFlight)
	assert.GreaterOrEqual(t, s.Limit, 1)
	p, err := l.TryAcquire()
	require.NoError(t, err)
	p.Done(nil)
}

// When the limit falls, the wait queue is cut to the new limit, lowest
// class first.
func TestLimiterQueueCutWhenLimitFalls(t *testing.T) {
	clk := newFakeClock()
	l := newTestLimiter(t, clk, shedding.WithMinLimit(1), shedding.WithInitialLimit(40), shedding.WithMaxWait(time.Minute), shedding.WithProbeInterval(time.Hour))
	runHalf(t, l, clk, 10*time.Millisecond) // baseline 10 ms
	var held []shedding.Permit
	for range 40 {
		p, err := l.TryAcquire()
		require.NoError(t, err)
		held = append(held, p)
	}
	type result struct {
		p   shedding.Priority
		err error
	}
	results := make(chan result, 40)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 40 {
		p := shedding.Default
		if i >= 30 {
			p = shedding.Sheddable
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pm, err := l.AcquirePriority(context.Background(), p)
			results <- result{p, err}
			if err == nil {
				<-release
				pm.Release()
			}
		}()
		require.Eventually(t, func() bool { return l.Stats().Queued == i+1 }, 5*time.Second, time.Millisecond)
	}
	// Ten calls end ten times slower than the baseline: each hands its
	// slot to a default waiter, and the tenth closes the window, which
	// halves the limit to 20; the queue is cut to 20, the ten sheddable
	// waiters first.
	clk.Advance(100 * time.Millisecond)
	for _, p := range held[:10] {
		p.Done(nil)
	}
	assert.Equal(t, 20, l.Limit())
	for range 20 {
		r := <-results
		if r.p == shedding.Sheddable {
			assert.ErrorIs(t, r.err, shedding.ErrLimited)
		} else {
			assert.NoError(t, r.err)
		}
	}
	assert.Equal(t, 20, l.Stats().Queued)
	// The rest are served as the calls in flight end.
	close(release)
	for _, p := range held[10:] {
		p.Release()
	}
	wg.Wait()
	close(results)
	for r := range results {
		assert.Equal(t, result{shedding.Default, nil}, r)
	}
	s := l.Stats()
	assert.Equal(t, 0, s.Queued)
	assert.Equal(t, 0, s.InFlight)
	assert.Equal(t, int64(10), s.Rejected[shedding.Sheddable.Index()])
}

// An under-used limit decays to twice the recent peak of calls in flight,
// plus one, never below the min limit; a window that uses half the limit
// keeps it.
func TestLimiterDecaysToRecentPeak(t *testing.T) {
	clk := newFakeClock()
	var events []shedding.LimiterEvent
	l := newTestLimiter(t, clk, shedding.WithMinLimit(1), shedding.WithProbeInterval(time.Hour),
		shedding.WithLimiterEventHook(func(e shedding.LimiterEvent) { events = append(events, e) }))
	require.Equal(t, shedding.DefaultInitialLimit, l.Limit())
	runCalls(t, l, clk, 20, 10*time.Millisecond, nil) // one call in flight at a time
	assert.Equal(t, 3, l.Limit(), "2 × peak 1 + 1")
	require.NotEmpty(t, events)
	assert.Equal(t, shedding.LimiterEvent{Limit: 3, Previous: shedding.DefaultInitialLimit, Baseline: 10 * time.Millisecond, Latency: 10 * time.Millisecond},
		shedding.LimiterEvent{Limit: events[0].Limit, Previous: events[0].Previous, Baseline: events[0].Baseline, Latency: events[0].Latency})

	// Never below the min limit.
	l = newTestLimiter(t, clk, shedding.WithMinLimit(8), shedding.WithProbeInterval(time.Hour))
	runCalls(t, l, clk, 20, 10*time.Millisecond, nil)
	assert.Equal(t, 8, l.Limit())

	// Half the limit in flight: no decay, no growth.
	l = newTestLimiter(t, clk, shedding.WithInitialLimit(40), shedding.WithProbeInterval(time.Hour))
	runHalf(t, l, clk, 10*time.Millisecond)
	assert.Equal(t, 40, l.Limit())
}
