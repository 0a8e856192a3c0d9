package limit

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFixedWindowCodes(t *testing.T) {
	clk := newFakeClock()
	w, err := NewFixedWindow(3, time.Minute, WithClock(clk))
	require.NoError(t, err)
	steps := []struct {
		at     time.Duration
		n      int
		status Status
		remain int
		retry  time.Duration
		reset  time.Duration
	}{
		{0, 0, StatusAllowed, 3, 0, 0},
		{10 * time.Second, 1, StatusAllowed, 2, 0, time.Minute}, // the window starts here
		{20 * time.Second, 1, StatusAllowed, 1, 0, 50 * time.Second},
		{30 * time.Second, 1, StatusHitQuota, 0, 0, 40 * time.Second},
		{40 * time.Second, 1, StatusOverQuota, 0, 30 * time.Second, 30 * time.Second},
		{70*time.Second - 1, 1, StatusOverQuota, 0, 1, 1},
		{70 * time.Second, 3, StatusHitQuota, 0, 0, time.Minute},
		{5 * time.Hour, 2, StatusAllowed, 1, 0, time.Minute},
	}
	for i, s := range steps {
		r, err := w.AllowN(epoch.Add(s.at), s.n)
		require.NoError(t, err)
		assert.Equal(t, s.status, r.Status(), "step %d: AllowN(%v, %d)", i, s.at, s.n)
		assert.Equal(t, s.remain, r.Remaining, "step %d: remaining", i)
		assert.Equal(t, s.retry, r.RetryAfter, "step %d: retry after", i)
		assert.Equal(t, s.reset, r.ResetAfter, "step %d: reset after", i)
		assert.Equal(t, 3, r.Limit)
		assert.Equal(t, time.Minute, r.Window)
	}
	assert.Equal(t, "hit quota", StatusHitQuota.String())
	assert.Equal(t, "Status(9)", Status(9).String())
}

func TestFixedWindowCalendar(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	// 2026-03-08 is a 23-hour day in New York, 2026-11-01 a 25-hour one.
	for _, tc := range []struct {
		period      time.Duration
		at          time.Time
		start, next time.Time
	}{
		{24 * time.Hour, time.Date(2026, 3, 8, 12, 0, 0, 0, ny), time.Date(2026, 3, 8, 0, 0, 0, 0, ny), time.Date(2026, 3, 9, 0, 0, 0, 0, ny)},
		{24 * time.Hour, time.Date(2026, 11, 1, 23, 59, 0, 0, ny), time.Date(2026, 11, 1, 0, 0, 0, 0, ny), time.Date(2026, 11, 2, 0, 0, 0, 0, ny)},
		{time.Hour, time.Date(2026, 6, 1, 10, 59, 59, 999, ny), time.Date(2026, 6, 1, 10, 0, 0, 0, ny), time.Date(2026, 6, 1, 11, 0, 0, 0, ny)},
		{15 * time.Minute, time.Date(2026, 6, 1, 10, 31, 0, 0, ny), time.Date(2026, 6, 1, 10, 30, 0, 0, ny), time.Date(2026, 6, 1, 10, 45, 0, 0, ny)},
		{24 * time.Hour, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)},
	} {
		loc := tc.at.Location()
		w, err := NewFixedWindow(2, tc.period, WithCalendar(loc), WithClock(newFakeClock()))
		require.NoError(t, err)
		r, err := w.AllowN(tc.at, 2)
		require.NoError(t, err)
		require.True(t, r.Allowed)
		assert.Equal(t, tc.next.Sub(tc.at), r.ResetAfter, "%v at %v", tc.period, tc.at)
		r, _ = w.AllowN(tc.next.Add(-1), 1)
		assert.False(t, r.Allowed, "%v: the window's last nanosecond", tc.period)
		assert.Equal(t, time.Duration(1), r.RetryAfter)
		r, _ = w.AllowN(tc.next, 2)
		assert.True(t, r.Allowed, "%v: the next window", tc.period)
		_ = tc.start
	}
	_, err = NewFixedWindow(1, 7*time.Hour, WithCalendar(time.UTC))
	assert.EqualError(t, err, "limit: a calendar-aligned period must divide 24h, got 7h0m0s")
	_, err = NewFixedWindow(1, time.Hour, WithCalendar(nil))
	assert.EqualError(t, err, "limit: nil calendar location")
}

func TestWindowInvalid(t *testing.T) {
	for _, tc := range []struct {
		quota  int
		period time.Duration
		err    string
	}{
		{0, time.Second, "limit: quota must be between 1 and 2147483647, got 0"},
		{1 << 40, time.Second, "limit: quota must be between 1 and 2147483647, got 1099511627776"},
		{1, 0, "limit: %s must be between 1ns and 876000h0m0s, got 0s"},
		{1, -time.Second, "limit: %s must be between 1ns and 876000h0m0s, got -1s"},
		{1, 1 << 62, "limit: %s must be between 1ns and 876000h0m0s, got 1281023h53m38.427387904s"},
	} {
		_, err := NewFixedWindow(tc.quota, tc.period)
		assert.EqualError(t, err, replaceWhat(tc.err, "period"))
		_, err = NewSlidingWindow(tc.quota, tc.period)
		assert.EqualError(t, err, replaceWhat(tc.err, "window"))
	}
	_, err := NewSlidingWindow(1, time.Second, WithPrecision(0))
	assert.EqualError(t, err, "limit: precision must be between 1 and 1024 slots, got 0")
	_, err = NewSlidingWindow(1, 5, WithPrecision(10))
	assert.EqualError(t, err, "limit: window 5ns is shorter than 10 slots of 1ns")
	_, err = NewSlidingWindow(1, time.Second, WithClock(nil))
	assert.EqualError(t, err, "limit: nil Clock")
	w, _ := NewFixedWindow(5, time.Second)
	r, err := w.AllowN(time.Now(), 6)
	assert.ErrorIs(t, err, ErrInvalidCost)
	assert.Equal(t, Forever, r.RetryAfter)
	s, _ := NewSlidingWindow(5, time.Second)
	_, err = s.AllowN(time.Now(), -1)
	assert.ErrorIs(t, err, ErrInvalidCost)
}

func replaceWhat(s, what string) string {
	if len(s) > 0 {
		for i := 0; i+1 < len(s); i++ {
			if s[i:i+2] == "%s" {
				return s[:i] + what + s[i+2:]
			}
		}
	}
	return s
}

// maxInSpan returns the most admissions in any closed span [t, t+w].
func maxInSpan(times []time.Duration, w time.Duration) int {
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	best, lo := 0, 0
	for hi := range times {
		for times[hi]-times[lo] > w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func TestSlidingWindowNeverOverQuotaAtEdges(t *testing.T) {
	// Arrivals at both sides of every slot edge and window edge: one
	// nanosecond before, on, and after each; every span as long as the
	// window holds at most quota admissions, and the limiter admits at
	// least quota every two windows.
	for _, tc := range []struct {
		quota     int
		window    time.Duration
		precision int
	}{{5, time.Second, 10}, {10, time.Second, 1}, {7, 700 * time.Millisecond, 3}, {100, time.Minute, 60}, {3, 10, 10}} {
		w, err := NewSlidingWindow(tc.quota, tc.window, WithPrecision(tc.precision), WithClock(newFakeClock()))
		require.NoError(t, err)
		slot := tc.window / time.Duration(tc.precision)
		var admitted []time.Duration
		for e := time.Duration(0); e <= 6*tc.window; e += slot {
			for _, d := range []time.Duration{-1, 0, 1} {
				at := e + d
				if at < 0 {
					continue
				}
				for range tc.quota {
					r, err := w.AllowN(epoch.Add(at), 1)
					require.NoError(t, err)
					if r.Allowed {
						admitted = append(admitted, at)
					}
				}
			}
		}
		assert.LessOrEqual(t, maxInSpan(admitted, tc.window), tc.quota, "%+v", tc)
		assert.GreaterOrEqual(t, len(admitted), 4*tc.quota, "%+v: admits its quota", tc)
	}
}

func TestSlidingWindowRandomArrivals(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		quota := 1 + rng.IntN(20)
		window := time.Duration(1+rng.IntN(1000)) * time.Millisecond
		w, err := NewSlidingWindow(quota, window, WithPrecision(1+rng.IntN(20)), WithClock(newFakeClock()))
		require.NoError(t, err)
		var admitted []time.Duration
		at := time.Duration(0)
		for range 5000 {
			at += time.Duration(rng.Int64N(int64(window) / 4))
			n := 1 + rng.IntN(quota)
			r, err := w.AllowN(epoch.Add(at), n)
			require.NoError(t, err)
			if r.Allowed {
				for range n {
					admitted = append(admitted, at)
				}
				continue
			}
			// RetryAfter is exact: a nanosecond earlier the request still
			// fails, at RetryAfter it passes (nothing else arrives between).
			require.Positive(t, r.RetryAfter)
			early, _ := w.AllowN(epoch.Add(at+r.RetryAfter-1), 0)
			assert.Less(t, early.Remaining, n, "seed %d: before RetryAfter", seed)
			at += r.RetryAfter
			r2, _ := w.AllowN(epoch.Add(at), n)
			require.True(t, r2.Allowed, "seed %d: at RetryAfter", seed)
			for range n {
				admitted = append(admitted, at)
			}
		}
		assert.LessOrEqual(t, maxInSpan(admitted, window), quota, "seed %d", seed)
	}
}

func TestSlidingWindowResult(t *testing.T) {
	w, err := NewSlidingWindow(4, time.Second, WithPrecision(4), WithClock(newFakeClock()))
	require.NoError(t, err)
	r, _ := w.AllowN(epoch, 3)
	assert.Equal(t, Result{Allowed: true, Limit: 4, Remaining: 1, ResetAfter: 1250 * time.Millisecond, Window: time.Second}, r)
	r, _ = w.AllowN(epoch.Add(600*time.Millisecond), 1)
	assert.Equal(t, Result{Allowed: true, Limit: 4, Remaining: 0, ResetAfter: 1150 * time.Millisecond, Window: time.Second}, r)
	r, _ = w.AllowN(epoch.Add(700*time.Millisecond), 2)
	// The 3 at 0 leave the span at 1.25s, 550ms from now.
	assert.Equal(t, Result{Limit: 4, Remaining: 0, RetryAfter: 550 * time.Millisecond, ResetAfter: 1050 * time.Millisecond, Window: time.Second}, r)
	r, _ = w.AllowN(epoch.Add(time.Hour), 0)
	assert.Equal(t, Result{Allowed: true, Limit: 4, Remaining: 4, Window: time.Second}, r)
}

func TestWindowsZeroAllocs(t *testing.T) {
	f, _ := NewFixedWindow(1000, time.Second)
	s, _ := NewSlidingWindow(1000, time.Second)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { f.Allow() }))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { s.Allow() }))
}

func TestWindowsExtremeTimes(t *testing.T) {
	// 1ns slots and times at both ends of the range: no overflow, no
	// endless loop, decisions stay sane.
	s, err := NewSlidingWindow(3, 10, WithPrecision(10), WithClock(newFakeClock()))
	require.NoError(t, err)
	f, err := NewFixedWindow(3, 10, WithClock(newFakeClock()))
	require.NoError(t, err)
	for _, at := range []time.Time{{}, epoch.Add(-1 << 62), epoch.Add(1 << 62), time.Unix(1<<62, 0), epoch} {
		for _, l := range []Limiter{s, f} {
			r, err := l.AllowN(at, 3)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, r.Remaining, 0)
			assert.GreaterOrEqual(t, r.RetryAfter, time.Duration(0))
		}
	}
}
