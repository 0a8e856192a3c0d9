package limit

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newBucket(t *testing.T, rate float64, burst int) (*TokenBucket, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	b, err := NewTokenBucket(rate, burst, WithClock(clk))
	require.NoError(t, err)
	return b, clk
}

// admitAll offers requests of cost 1 at now until one is rejected and
// returns how many passed.
func admitAll(t *testing.T, allow func(now time.Time) Result, now time.Time) int {
	t.Helper()
	n := 0
	for {
		r := allow(now)
		if !r.Allowed {
			return n
		}
		n++
		if n > 1e7 {
			t.Fatal("no rejection after 1e7 requests")
		}
	}
}

func TestTokenBucketExactCount(t *testing.T) {
	// 100/s, burst 10, hammered every millisecond over [0, 10s]: the burst
	// plus one token per 10ms, exactly.
	for _, step := range []time.Duration{time.Millisecond, 4 * time.Millisecond, 625 * time.Microsecond} {
		b, _ := newBucket(t, 100, 10)
		total := 0
		for at := time.Duration(0); at <= 10*time.Second; at += step {
			total += admitAll(t, func(now time.Time) Result {
				r, err := b.AllowN(now, 1)
				require.NoError(t, err)
				return r
			}, epoch.Add(at))
		}
		assert.Equal(t, 1010, total, "step %v", step)
	}
}

func TestTokenBucketConcurrentExactCount(t *testing.T) {
	// The same with 8 goroutines racing on each instant: the CAS loop
	// neither loses nor invents a token.
	b, clk := newBucket(t, 100, 10)
	var total atomic.Int64
	for ms := 0; ms <= 10_000; ms += 5 {
		clk.Set(epoch.Add(time.Duration(ms) * time.Millisecond))
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 4 {
					if b.Allow() {
						total.Add(1)
					}
				}
			}()
		}
		wg.Wait()
	}
	assert.Equal(t, int64(1010), total.Load())
}

func TestTokenBucketResult(t *testing.T) {
	b, _ := newBucket(t, 10, 5) // a token per 100ms
	steps := []struct {
		at        time.Duration
		n         int
		allowed   bool
		remaining int
		retry     time.Duration
		reset     time.Duration
	}{
		{0, 0, true, 5, 0, 0},
		{0, 3, true, 2, 0, 300 * time.Millisecond},
		{0, 3, false, 2, 100 * time.Millisecond, 300 * time.Millisecond},
		{50 * time.Millisecond, 2, true, 0, 0, 450 * time.Millisecond},
		{50 * time.Millisecond, 1, false, 0, 50 * time.Millisecond, 450 * time.Millisecond},
		{100 * time.Millisecond, 1, true, 0, 0, 500 * time.Millisecond},
		{time.Hour, 5, true, 0, 0, 500 * time.Millisecond},
		{time.Hour, 1, false, 0, 100 * time.Millisecond, 500 * time.Millisecond},
	}
	for i, s := range steps {
		r, err := b.AllowN(epoch.Add(s.at), s.n)
		require.NoError(t, err)
		want := Result{Allowed: s.allowed, Limit: 5, Remaining: s.remaining, RetryAfter: s.retry, ResetAfter: s.reset, Window: 500 * time.Millisecond}
		assert.Equal(t, want, r, "step %d: AllowN(%v, %d)", i, s.at, s.n)
		assert.Equal(t, s.allowed, r.Status() != StatusOverQuota, "step %d", i)
	}
}

func TestTokenBucketRetryAfterIsExact(t *testing.T) {
	// Waiting exactly RetryAfter lets the same request through; a
	// nanosecond less does not.
	for _, tc := range []struct {
		rate  float64
		burst int
		n     int
	}{{100, 10, 1}, {3, 7, 5}, {0.5, 2, 2}, {1e6, 100, 37}} {
		b, _ := newBucket(t, tc.rate, tc.burst)
		now := epoch
		for range 50 {
			r, err := b.AllowN(now, tc.n)
			require.NoError(t, err)
			if r.Allowed {
				continue
			}
			require.Positive(t, r.RetryAfter)
			early, _ := b.AllowN(now.Add(r.RetryAfter-1), 0)
			assert.Less(t, early.Remaining, tc.n, "rate %v: before RetryAfter", tc.rate)
			now = now.Add(r.RetryAfter)
			r2, _ := b.AllowN(now, tc.n)
			assert.True(t, r2.Allowed, "rate %v: at RetryAfter %v", tc.rate, r.RetryAfter)
		}
	}
}

// Issue golang/go#52618: x/time/rate's bursts do not behave as documented.
// Here the burst is exactly what the documentation says: a full bucket
// admits burst requests at once, not one more, whatever the idle time
// before; after that, one per 1/rate; and idle time refills it to burst,
// never beyond.
func TestTokenBucketBurstAsDocumented52618(t *testing.T) {
	for _, burst := range []int{1, 2, 10, 1000} {
		b, _ := newBucket(t, 4, burst) // a token per 250ms
		allow := func(now time.Time) Result { r, _ := b.AllowN(now, 1); return r }
		assert.Equal(t, burst, admitAll(t, allow, epoch), "burst %d: fresh", burst)
		for i := 1; i <= 8; i++ {
			assert.Equal(t, 1, admitAll(t, allow, epoch.Add(time.Duration(i)*250*time.Millisecond)), "burst %d: token %d", burst, i)
		}
		idle := epoch.Add(2*time.Second + 24*time.Hour)
		assert.Equal(t, burst, admitAll(t, allow, idle), "burst %d: after a day idle", burst)
		// Half-refilled: idle for half the refill time gives half the burst.
		half := idle.Add(time.Duration(burst) * 125 * time.Millisecond)
		assert.Equal(t, burst/2, admitAll(t, allow, half), "burst %d: half refilled", burst)
		// WaitN of the whole burst on a full bucket does not wait.
		b2, _ := newBucket(t, 4, burst)
		var slept time.Duration
		b2.s.sleep = func(_ context.Context, d time.Duration) error { slept += d; return nil }
		require.NoError(t, b2.WaitN(context.Background(), burst))
		assert.Zero(t, slept, "burst %d: WaitN(burst) on a full bucket", burst)
		require.NoError(t, b2.WaitN(context.Background(), 1))
		assert.Equal(t, 250*time.Millisecond, slept, "burst %d: the next token", burst)
	}
}

// Issue golang/go#47084: x/time/rate's Wait waits too long. Here the time
// to act is fixed when Wait is called, to the nanosecond, and tokens count
// from when they were due: timers that fire late (by 1.5ms here, as Linux
// timers do) do not slow the long-run rate as long as the burst absorbs the
// lateness, and never add up across waiters.
func TestTokenBucketWaitNotTooLong47084(t *testing.T) {
	const late = 1500 * time.Microsecond
	b, clk := newBucket(t, 1000, 3) // a token per millisecond
	var waits []time.Duration
	b.s.sleep = func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		clk.Add(d + late)
		return nil
	}
	start := clk.Now()
	for range 1000 {
		require.NoError(t, b.Wait(context.Background()))
	}
	elapsed := clk.Now().Sub(start)
	// 3 tokens at once, then 997 at 1ms: 997ms plus at most one lateness.
	assert.LessOrEqual(t, elapsed, 997*time.Millisecond+late, "1000 waits")
	assert.GreaterOrEqual(t, elapsed, 996*time.Millisecond, "1000 waits")
	for _, d := range waits {
		assert.LessOrEqual(t, d, time.Millisecond, "no single wait is longer than a token's interval")
	}

	// Concurrent waiters are given consecutive times: the k-th waits k
	// intervals, exactly.
	b2, _ := newBucket(t, 1000, 1)
	require.True(t, b2.Allow())
	var mu sync.Mutex
	var got []time.Duration
	b2.s.sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
		return nil
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); assert.NoError(t, b2.Wait(context.Background())) }()
	}
	wg.Wait()
	var sum time.Duration
	for _, d := range got {
		sum += d
	}
	assert.Len(t, got, 10)
	assert.Equal(t, 55*time.Millisecond, sum, "waits 1ms, 2ms, … 10ms")
}

func TestTokenBucketWaitDeadline(t *testing.T) {
	b, _ := newBucket(t, 10, 2)
	slept := false
	b.s.sleep = func(context.Context, time.Duration) error { slept = true; return nil }
	require.True(t, b.Allow())
	require.True(t, b.Allow())
	before := b.tat.Load()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := b.Wait(ctx) // the next token is 100ms away: fails at once
	assert.ErrorIs(t, err, ErrWouldExceedDeadline)
	assert.False(t, slept)
	assert.Equal(t, before, b.tat.Load(), "state unchanged")

	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	assert.ErrorIs(t, b.Wait(canceled), context.Canceled)
	assert.Equal(t, before, b.tat.Load(), "state unchanged")

	_, err = b.AllowN(epoch, 3)
	assert.ErrorIs(t, err, ErrInvalidCost)
	assert.ErrorIs(t, b.WaitN(context.Background(), 3), ErrInvalidCost)
	assert.Equal(t, before, b.tat.Load(), "state unchanged")
}

func TestTokenBucketWaitCanceledGivesBack(t *testing.T) {
	b, _ := newBucket(t, 10, 1)
	require.True(t, b.Allow())
	before := b.tat.Load()
	ctx, cancel := context.WithCancel(context.Background())
	b.s.sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	assert.ErrorIs(t, b.Wait(ctx), context.Canceled)
	assert.Equal(t, before, b.tat.Load(), "the reserved token is back")

	// With the real timer: the next token is 100s away.
	b2, err := NewTokenBucket(0.01, 1)
	require.NoError(t, err)
	require.True(t, b2.Allow())
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel2() }()
	assert.ErrorIs(t, b2.Wait(ctx2), context.Canceled)
	r, _ := b2.AllowN(time.Now(), 0)
	assert.Positive(t, r.ResetAfter)
	assert.LessOrEqual(t, r.ResetAfter, 100*time.Second, "one token owed, not two")
}

func TestTokenBucketReservation(t *testing.T) {
	b, _ := newBucket(t, 10, 4)
	r1, err := b.ReserveN(epoch, 4, 0)
	require.NoError(t, err)
	assert.True(t, r1.OK())
	assert.Zero(t, r1.Delay())
	r2, _ := b.ReserveN(epoch, 2, 100*time.Millisecond)
	assert.False(t, r2.OK(), "200ms away, 100ms allowed")
	assert.Equal(t, 200*time.Millisecond, r2.Delay())
	r3, _ := b.ReserveN(epoch, 2, time.Second)
	require.True(t, r3.OK())
	assert.Equal(t, 200*time.Millisecond, r3.Delay())
	st := b.State(epoch)
	assert.Equal(t, 600*time.Millisecond, st.ResetAfter)

	r3.CancelAt(epoch.Add(50 * time.Millisecond)) // before its time: given back
	assert.Equal(t, 400*time.Millisecond, b.State(epoch).ResetAfter)
	r3.CancelAt(epoch.Add(50 * time.Millisecond)) // twice: nothing more
	assert.Equal(t, 400*time.Millisecond, b.State(epoch).ResetAfter)
	r2.CancelAt(epoch) // not OK: nothing
	assert.Equal(t, 400*time.Millisecond, b.State(epoch).ResetAfter)
	r1.CancelAt(epoch.Add(time.Millisecond)) // its tokens were due at 0: used
	assert.Equal(t, 400*time.Millisecond, b.State(epoch).ResetAfter)

	_, err = b.ReserveN(epoch, 5, time.Hour)
	assert.ErrorIs(t, err, ErrInvalidCost)
}

func TestTokenBucketSetRateBurst(t *testing.T) {
	b, _ := newBucket(t, 10, 10)
	allow := func(now time.Time) Result { r, _ := b.AllowN(now, 1); return r }
	assert.Equal(t, 10, admitAll(t, allow, epoch))
	// Raising the rate never makes things stricter: the debt is capped at
	// an empty bucket of the new settings.
	// Empty bucket: raising the rate keeps it empty (10 tokens owed), now
	// refilling at 1000/s: 1ms later exactly one token.
	b.s.tb.clock.(*fakeClock).Set(epoch)
	require.NoError(t, b.SetRate(1000))
	assert.Equal(t, 1000.0, b.Rate())
	assert.Equal(t, 1, admitAll(t, allow, epoch.Add(time.Millisecond)))
	assert.Equal(t, 10, admitAll(t, allow, epoch.Add(time.Hour)))
	require.NoError(t, b.SetBurst(100))
	assert.Equal(t, 100, b.Burst())
	assert.Equal(t, 90, admitAll(t, allow, epoch.Add(time.Hour)), "the 10 owed stay owed")
	assert.Equal(t, 100, admitAll(t, allow, epoch.Add(2*time.Hour)))
	b.s.tb.clock.(*fakeClock).Set(epoch.Add(2 * time.Hour))
	require.NoError(t, b.SetRate(1)) // 100 owed at 1/s
	require.NoError(t, b.SetBurst(2))
	assert.Equal(t, 0, admitAll(t, allow, epoch.Add(2*time.Hour+98*time.Second)))
	assert.Equal(t, 1, admitAll(t, allow, epoch.Add(2*time.Hour+99*time.Second)))
	assert.Equal(t, 2, admitAll(t, allow, epoch.Add(3*time.Hour)))

	assert.EqualError(t, b.SetRate(0), "limit: rate must be a positive finite number of tokens per second, got 0")
	assert.EqualError(t, b.SetBurst(0), "limit: burst must be between 1 and 2147483647, got 0")
	assert.Equal(t, 1.0, b.Rate(), "a refused change changes nothing")
}

func TestTokenBucketInvalid(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		burst int
		err   string
	}{
		{0, 1, "limit: rate must be a positive finite number of tokens per second, got 0"},
		{-1, 1, "limit: rate must be a positive finite number of tokens per second, got -1"},
		{math.NaN(), 1, "limit: rate must be a positive finite number of tokens per second, got NaN"},
		{math.Inf(1), 1, "limit: rate must be a positive finite number of tokens per second, got +Inf"},
		{2e9, 1, "limit: rate must be at most 1e+09 tokens per second, got 2e+09"},
		{1, 0, "limit: burst must be between 1 and 2147483647, got 0"},
		{1, -5, "limit: burst must be between 1 and 2147483647, got -5"},
		{1, math.MaxInt, "limit: burst must be between 1 and 2147483647, got 9223372036854775807"},
		{1e-10, 1, "limit: burst 1 at 1e-10 tokens per second takes longer than 876000h0m0s to refill"},
		{0.5, MaxQuota, "limit: burst 2147483647 at 0.5 tokens per second takes longer than 876000h0m0s to refill"},
	} {
		b, err := NewTokenBucket(tc.rate, tc.burst)
		assert.Nil(t, b)
		assert.EqualError(t, err, tc.err)
	}
	_, err := NewTokenBucket(1, 1, WithClock(nil))
	assert.EqualError(t, err, "limit: nil Clock")

	// Extremes that are allowed work without overflow.
	b, err := NewTokenBucket(MaxRate, MaxQuota)
	require.NoError(t, err)
	r, err := b.AllowN(time.Now(), MaxQuota)
	require.NoError(t, err)
	assert.True(t, r.Allowed)
	slow, err := NewTokenBucket(1.0/(3600*24*365), 99)
	require.NoError(t, err)
	for _, at := range []time.Time{{}, time.Unix(1<<40, 0), time.Unix(-1<<40, 0), epoch} {
		r, err := slow.AllowN(at, 99)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, r.Remaining, 0)
		assert.GreaterOrEqual(t, r.RetryAfter, time.Duration(0))
	}
	var nilErr *costError
	_, err = b.AllowN(time.Now(), -1)
	assert.True(t, errors.As(err, &nilErr))
	assert.EqualError(t, err, "limit: request cost must be between 0 and the burst 2147483647, got -1")
}

func TestTokenBucketAllowZeroAllocs(t *testing.T) {
	b, err := NewTokenBucket(1e6, 100)
	require.NoError(t, err)
	now := time.Now()
	assert.Zero(t, testing.AllocsPerRun(1000, func() { b.Allow() }))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = b.AllowN(now, 1) }))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { r, _ := b.ReserveN(now, 1, time.Second); r.CancelAt(now) }))
}
