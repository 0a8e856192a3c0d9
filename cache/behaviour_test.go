package cache_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/levee-go/levee/cache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var errDown = errors.New("source down")

// Test 1. Penetration: 1,000 concurrent Takes of a missing key call the
// loader once; more within the not-found TTL call it zero times; after the
// TTL the next Take asks the source again.
func TestPenetration(t *testing.T) {
	clk := newFakeClock()
	c := newCache[string, int](t, 100, cache.WithClock(clk), cache.WithNotFoundTTL(time.Minute), cache.WithJitter(0))
	var calls atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) (int, error) {
		calls.Add(1)
		<-release
		return 0, fmt.Errorf("user 42: %w", cache.ErrNotFound)
	}
	const n = 1000
	var wg sync.WaitGroup
	var notFound, started atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Add(1)
			if _, err := c.Take(context.Background(), "missing", load); errors.Is(err, cache.ErrNotFound) {
				notFound.Add(1)
			}
		}()
	}
	for started.Load() < n {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	assert.Equal(t, int64(1), calls.Load(), "loader calls for %d concurrent Takes", n)
	assert.Equal(t, int64(n), notFound.Load(), "Takes that got ErrNotFound")

	clk.Advance(59 * time.Second)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Take(context.Background(), "missing", load); errors.Is(err, cache.ErrNotFound) {
				notFound.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1), calls.Load(), "loader calls within the not-found TTL")
	assert.Equal(t, int64(2*n), notFound.Load())
	_, ok := c.Get("missing")
	assert.False(t, ok, "Get of a remembered not-found key")

	st := c.Stats()
	assert.Equal(t, int64(1), st.Loads)
	assert.Equal(t, int64(0), st.LoadErrors, "ErrNotFound is not a load error")
	assert.GreaterOrEqual(t, st.NotFoundHits, int64(n))

	clk.Advance(time.Second)
	_, err := c.Take(context.Background(), "missing", load)
	assert.ErrorIs(t, err, cache.ErrNotFound)
	assert.Equal(t, int64(2), calls.Load(), "loader calls once the not-found TTL is over")
}

// Test 2. Breakdown: a hot key expires under 1,000 concurrent readers; the
// loader runs once and every reader gets the new value.
func TestBreakdown(t *testing.T) {
	clk := newFakeClock()
	c := newCache[string, string](t, 100, cache.WithClock(clk), cache.WithTTL(time.Minute), cache.WithJitter(0))
	c.Set("hot", "v1")
	clk.Advance(time.Minute)
	_, ok := c.Get("hot")
	require.False(t, ok, "hot key still fresh at its TTL")

	var calls atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) (string, error) {
		calls.Add(1)
		<-release
		return "v2", nil
	}
	const n = 1000
	var wg sync.WaitGroup
	var got, started atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Add(1)
			if v, err := c.Take(context.Background(), "hot", load); err == nil && v == "v2" {
				got.Add(1)
			}
		}()
	}
	for started.Load() < n {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	assert.Equal(t, int64(1), calls.Load(), "loader calls for %d readers of an expired key", n)
	assert.Equal(t, int64(n), got.Load(), "readers that got the new value")
	v, ok := c.Get("hot")
	assert.True(t, ok)
	assert.Equal(t, "v2", v)
}

// Test 3. Avalanche: 10,000 keys written in one burst expire spread over at
// least ±4% of the TTL, and none outside ±5%.
func TestAvalanche(t *testing.T) {
	for _, seed := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("run", seed), func(t *testing.T) {
			clk := newFakeClock()
			const n, ttl = 10_000, time.Hour
			c := newCache[int, int](t, 2*n, cache.WithClock(clk), cache.WithTTL(ttl))
			for i := 0; i < n; i++ {
				c.Set(i, i)
			}
			alive := func() (k int) {
				for i := 0; i < n; i++ {
					if _, ok := c.Get(i); ok {
						k++
					}
				}
				return k
			}
			at := time.Duration(0)
			step := func(frac float64) int {
				to := time.Duration(float64(ttl) * frac)
				clk.Advance(to - at)
				at = to
				return alive()
			}
			assert.Equal(t, n, step(0.9499), "alive before -5%")
			early := n - step(0.96)
			half := step(1.0)
			late := step(1.04)
			assert.Equal(t, 0, step(1.0501), "alive after +5%")
			// Uniform over ±5%: 10% of the keys expire in each 1% band.
			assert.GreaterOrEqual(t, early, n/20, "expired before -4%%")
			assert.GreaterOrEqual(t, late, n/20, "alive after +4%%")
			assert.InDelta(t, n/2, half, float64(n)/10, "alive at the TTL")
		})
	}
}

// Test 4. Serve-stale: with the loader failing, reads within the grace
// period return the old value reported as stale; after it, the error.
func TestServeStale(t *testing.T) {
	clk := newFakeClock()
	var events []cache.Event
	var mu sync.Mutex
	hook := func(e cache.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	c := newCache[string, int](t, 100, cache.WithClock(clk), cache.WithTTL(time.Minute),
		cache.WithJitter(0), cache.WithStaleGrace(30*time.Second), cache.WithEventHook(hook))
	ctx := context.Background()
	ok := func(context.Context) (int, error) { return 1, nil }
	fail := func(context.Context) (int, error) { return 0, errDown }

	r, err := c.TakeResult(ctx, "k", ok)
	require.NoError(t, err)
	assert.Equal(t, cache.Result[int]{Value: 1, Source: cache.SourceLoader}, r)
	r, err = c.TakeResult(ctx, "k", fail)
	require.NoError(t, err)
	assert.Equal(t, cache.Result[int]{Value: 1, Source: cache.SourceCache}, r)

	for i, d := range []time.Duration{time.Minute, 10 * time.Second, 19 * time.Second} {
		clk.Advance(d)
		r, err = c.TakeResult(ctx, "k", fail)
		require.NoError(t, err, "step %d", i)
		assert.Equal(t, 1, r.Value, "step %d", i)
		assert.True(t, r.Stale(), "step %d: source %v", i, r.Source)
		_, hit := c.Get("k")
		assert.False(t, hit, "step %d: Get returned a stale value", i)
	}
	clk.Advance(time.Second) // 30 s past expiry: grace over
	_, err = c.TakeResult(ctx, "k", fail)
	assert.ErrorIs(t, err, errDown)

	st := c.Stats()
	assert.Equal(t, int64(3), st.StaleServed)
	assert.Equal(t, int64(4), st.LoadErrors)
	assert.Equal(t, int64(5), st.Loads)
	mu.Lock()
	var stale, loadErr int
	for _, e := range events {
		switch e.Kind {
		case cache.EventStaleServed:
			stale++
			assert.ErrorIs(t, e.Err, errDown)
		case cache.EventLoadError:
			loadErr++
		}
	}
	mu.Unlock()
	assert.Equal(t, 3, stale)
	assert.Equal(t, 4, loadErr)

	// A caller whose ctx ends while the reload runs gets the stale value too.
	c.Set("slow", 7)
	clk.Advance(time.Minute)
	block := make(chan struct{})
	defer close(block)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	r, err = c.TakeResult(cctx, "slow", func(context.Context) (int, error) { <-block; return 8, nil })
	require.NoError(t, err)
	assert.Equal(t, cache.Result[int]{Value: 7, Source: cache.SourceStale}, r)
}

// Test 5. Take racing Delete and Clear: no value loaded before a Delete (or
// Clear) returned is in the cache after it.
func TestTakeRacingDelete(t *testing.T) {
	c := newCache[int, int64](t, 1000)
	var epoch, deleted atomic.Int64
	var loads, checks, violations, drounds atomic.Int64
	load := func(context.Context) (int64, error) {
		loads.Add(1)
		e := epoch.Load()
		runtime.Gosched() // let a Delete run while the load is in flight
		return e, nil
	}
	const keys, takers, takes = 4, 8, 3000
	var wg, deleter sync.WaitGroup
	for g := 0; g < takers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			// Until enough loads raced enough deletes (a loaded machine
			// may schedule the deleter rarely), within a bound.
			deadline := time.Now().Add(10 * time.Second)
			for i := 0; i < takes || (loads.Load() < 300 || drounds.Load() < 300 || checks.Load() < 1000) && time.Now().Before(deadline); i++ {
				k := (g + i) % keys
				d := deleted.Load()
				if _, err := c.Take(context.Background(), k, load); err != nil {
					t.Errorf("Take: %v", err)
					return
				}
				if v, ok := c.Get(k); ok {
					checks.Add(1)
					if v < d {
						violations.Add(1)
					}
				}
			}
		}(g)
	}
	stop := make(chan struct{})
	var rounds int64
	deleter.Add(1)
	go func() {
		defer deleter.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e := epoch.Add(1)
			if i%10 == 9 {
				c.Clear()
			} else {
				for k := 0; k < keys; k++ {
					c.Delete(k)
				}
			}
			deleted.Store(e)
			rounds++
			drounds.Store(rounds)
			runtime.Gosched()
		}
	}()
	wg.Wait()
	close(stop)
	deleter.Wait()
	assert.Equal(t, int64(0), violations.Load(), "values loaded before a Delete seen after it (of %d checks)", checks.Load())
	t.Logf("rounds %d loads %d checks %d", rounds, loads.Load(), checks.Load())
	assert.GreaterOrEqual(t, rounds, int64(300), "delete rounds")
	assert.GreaterOrEqual(t, loads.Load(), int64(300), "loads")
	assert.GreaterOrEqual(t, checks.Load(), int64(1000), "checks")
}

// Test 6. Batch: 100 concurrent TakeMany calls over overlapping key sets
// load each missing key exactly once.
func TestTakeManyOverlapping(t *testing.T) {
	c := newCache[int, string](t, 10_000)
	var mu sync.Mutex
	loaded := map[int]int{}
	var batches atomic.Int64
	release := make(chan struct{})
	load := func(_ context.Context, missing []int) (map[int]string, error) {
		batches.Add(1)
		<-release
		m := make(map[int]string, len(missing))
		mu.Lock()
		for _, k := range missing {
			loaded[k]++
			if k%7 != 0 { // multiples of 7 do not exist
				m[k] = fmt.Sprint("v", k)
			}
		}
		mu.Unlock()
		return m, nil
	}
	// A few keys are in the cache already; a few are loaded by Take.
	for k := 0; k < 600; k += 50 {
		c.Set(k, fmt.Sprint("v", k))
	}
	var single atomic.Int64
	const callers, span, stride = 100, 40, 5 // caller i asks keys [5i, 5i+40)
	var wg sync.WaitGroup
	var bad atomic.Int64
	var started atomic.Int64
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			started.Add(1)
			keys := make([]int, 0, span+1)
			for k := stride * i; k < stride*i+span; k++ {
				keys = append(keys, k)
			}
			keys = append(keys, stride*i) // a duplicate
			got, err := c.TakeMany(context.Background(), keys, load)
			if err != nil {
				t.Errorf("caller %d: TakeMany: %v", i, err)
				bad.Add(1)
				return
			}
			for _, k := range keys {
				v, ok := got[k]
				if k%7 == 0 && k%50 != 0 {
					ok = !ok // must be absent
				} else {
					ok = ok && v == fmt.Sprint("v", k)
				}
				if !ok {
					t.Errorf("caller %d: key %d: got %q (in map: %v)", i, k, v, got[k] != "")
					bad.Add(1)
				}
			}
		}(i)
	}
	for k := 4; k < 500; k += 100 { // none a multiple of 7 or 50
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			started.Add(1)
			v, err := c.Take(context.Background(), k, func(context.Context) (string, error) {
				single.Add(1)
				<-release
				mu.Lock()
				loaded[k]++
				mu.Unlock()
				return fmt.Sprint("v", k), nil
			})
			if err != nil || v != fmt.Sprint("v", k) {
				t.Errorf("Take(%d) = %q, %v", k, v, err)
				bad.Add(1)
			}
		}(k)
	}
	for started.Load() < callers+5 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	assert.Equal(t, int64(0), bad.Load(), "wrong results")
	want := stride*(callers-1) + span
	mu.Lock()
	defer mu.Unlock()
	for k := 0; k < want; k++ {
		if k%50 == 0 {
			assert.Equal(t, 0, loaded[k], "key %d was cached but loaded", k)
			continue
		}
		assert.Equal(t, 1, loaded[k], "loads of key %d", k)
	}
	assert.LessOrEqual(t, batches.Load(), int64(callers))
	st := c.Stats()
	assert.Equal(t, batches.Load()+single.Load(), st.Loads)
}

// Test 7. Close stops every goroutine the cache started: loads and
// refreshes in flight are cancelled and waited for, and no goroutine is
// left behind.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	clk := newFakeClock()
	c, err := cache.New[string, int](100, cache.WithClock(clk), cache.WithTTL(time.Minute),
		cache.WithRefreshAfter(30*time.Second), cache.WithJitter(0))
	require.NoError(t, err)
	running := make(chan struct{}, 3)
	blocked := func(ctx context.Context) (int, error) {
		running <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	leaveWhenRunning := func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-running; cancel() }()
		return ctx
	}

	// A load whose only caller left: it keeps running until Close.
	_, err = c.Take(leaveWhenRunning(), "abandoned", blocked)
	assert.ErrorIs(t, err, context.Canceled)
	// A batch load whose caller left.
	_, err = c.TakeMany(leaveWhenRunning(), []string{"a", "b"}, func(ctx context.Context, _ []string) (map[string]int, error) {
		_, err := blocked(ctx)
		return nil, err
	})
	assert.ErrorIs(t, err, context.Canceled)
	// A background refresh in flight.
	c.Set("refreshed", 1)
	clk.Advance(31 * time.Second)
	v, err := c.Take(context.Background(), "refreshed", blocked)
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	<-running

	c.Close()
	goleak.VerifyNone(t)
	st := c.Stats()
	assert.Equal(t, int64(3), st.Loads)
	assert.Equal(t, int64(1), st.Refreshes)

	// After Close: cached values are served, loads are refused.
	v, err = c.Take(context.Background(), "refreshed", blocked)
	assert.NoError(t, err)
	assert.Equal(t, 1, v)
	_, err = c.Take(context.Background(), "new", blocked)
	assert.ErrorIs(t, err, cache.ErrClosed)
	_, err = c.TakeMany(context.Background(), []string{"new"}, func(context.Context, []string) (map[string]int, error) { return nil, nil })
	assert.ErrorIs(t, err, cache.ErrClosed)
	c.Close() // twice is fine
}
