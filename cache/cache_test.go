package cache_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/levee-go/levee/cache"
	"github.com/levee-go/levee/syncx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int
		opts     []cache.Option
		want     string
	}{
		{"zero capacity", 0, nil, "cache: capacity must be between 1 and 1099511627776, got 0"},
		{"negative capacity", -5, nil, "got -5"},
		{"huge capacity", math.MaxInt, nil, "capacity must be between"},
		{"nil option", 10, []cache.Option{nil}, "cache: nil Option"},
		{"zero TTL", 10, []cache.Option{cache.WithTTL(0)}, "cache: TTL must be positive and at most 876000h0m0s, got 0s"},
		{"huge TTL", 10, []cache.Option{cache.WithTTL(math.MaxInt64)}, "TTL must be positive"},
		{"negative not-found TTL", 10, []cache.Option{cache.WithNotFoundTTL(-1)}, "not-found TTL must be at least 0"},
		{"negative jitter", 10, []cache.Option{cache.WithJitter(-0.1)}, "jitter must be between 0 and 0.5, got -0.1"},
		{"NaN jitter", 10, []cache.Option{cache.WithJitter(math.NaN())}, "jitter must be between"},
		{"big jitter", 10, []cache.Option{cache.WithJitter(0.6)}, "jitter must be between"},
		{"negative grace", 10, []cache.Option{cache.WithStaleGrace(-time.Second)}, "stale grace must be at least 0"},
		{"refresh without TTL", 10, []cache.Option{cache.WithRefreshAfter(time.Second)}, "WithRefreshAfter needs WithTTL"},
		{"refresh after TTL", 10, []cache.Option{cache.WithTTL(time.Second), cache.WithRefreshAfter(time.Second)}, "refresh-after 1s must be shorter than the TTL 1s"},
		{"nil clock", 10, []cache.Option{cache.WithClock(nil)}, "cache: nil Clock"},
		{"nil weigher", 10, []cache.Option{cache.WithWeigher[string, int](nil)}, "cache: nil weigher"},
		{"weigher of other types", 10, []cache.Option{cache.WithWeigher(func(int, int) int64 { return 1 })}, "cache: weigher func(int, int) int64 does not fit Cache[string, int]"},
		{"shards not a power of two", 100, []cache.Option{cache.WithShards(3)}, "shards must be a power of two between 1 and 4096, got 3"},
		{"too many shards", 100, []cache.Option{cache.WithShards(8192)}, "got 8192"},
		{"shards above capacity", 4, []cache.Option{cache.WithShards(8)}, "cache: 8 shards need a capacity of at least 8, got 4"},
		{"nil hook", 10, []cache.Option{cache.WithEventHook(nil)}, "cache: nil event hook"},
		{"zero load timeout", 10, []cache.Option{cache.WithLoadTimeout(0)}, "load timeout must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := cache.New[string, int](tc.capacity, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// Several bad options are all reported.
	_, err := cache.New[string, int](1, cache.WithTTL(-1), cache.WithJitter(2))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TTL")
	assert.Contains(t, err.Error(), "jitter")
	// The last option of a kind wins.
	c, err := cache.New[string, int](1, cache.WithJitter(2), cache.WithJitter(0.1))
	require.Error(t, err, "a bad option is an error even if a later one is good")
	assert.Nil(t, c)
}

func TestGetSetDeleteClear(t *testing.T) {
	c := newCache[string, int](t, 100)
	_, ok := c.Get("a")
	assert.False(t, ok)
	c.Set("a", 1)
	c.Set("b", 2)
	v, ok := c.Get("a")
	assert.True(t, ok)
	assert.Equal(t, 1, v)
	c.Set("a", 3)
	v, _ = c.Get("a")
	assert.Equal(t, 3, v, "Set replaces")
	c.Delete("a")
	_, ok = c.Get("a")
	assert.False(t, ok, "after Delete")
	c.Delete("never there")
	c.Clear()
	_, ok = c.Get("b")
	assert.False(t, ok, "after Clear")
	st := c.Stats()
	assert.Equal(t, int64(0), st.Entries)
	assert.Equal(t, int64(2), st.Hits)
	assert.Equal(t, int64(3), st.Misses)
}

// Every Set is visible to the next Get, however full the cache.
func TestSetVisibleToNextGet(t *testing.T) {
	for _, capacity := range []int{1, 2, 10, 300} {
		c := newCache[int, int](t, capacity)
		for i := 0; i < 20*capacity+100; i++ {
			c.Set(i%(3*capacity+1), i)
			v, ok := c.Get(i % (3*capacity + 1))
			require.True(t, ok, "capacity %d, step %d", capacity, i)
			require.Equal(t, i, v)
			require.LessOrEqual(t, c.Stats().Entries, int64(capacity))
		}
	}
}

func TestCapacityBound(t *testing.T) {
	for _, tc := range []struct {
		capacity int
		keys     int
	}{{1, 10}, {7, 100}, {1000, 30_000}, {5000, 20_000}} {
		c := newCache[string, int](t, tc.capacity)
		for i := 0; i < tc.keys; i++ {
			c.Set(strings.Repeat("k", i%5)+string(rune('a'+i%26))+time.Duration(i).String(), i)
		}
		st := c.Stats()
		assert.LessOrEqual(t, st.Entries, int64(tc.capacity), "capacity %d", tc.capacity)
		assert.GreaterOrEqual(t, st.Entries, int64(tc.capacity)*9/10, "capacity %d: too few kept", tc.capacity)
		assert.Equal(t, int64(tc.keys)-st.Entries, st.Evictions, "capacity %d", tc.capacity)
	}
}

func TestWeigher(t *testing.T) {
	c := newCache[string, string](t, 100, cache.WithShards(1),
		cache.WithWeigher(func(_ string, v string) int64 { return int64(len(v)) }))
	c.Set("a", strings.Repeat("x", 60))
	c.Set("b", strings.Repeat("x", 30))
	assert.Equal(t, int64(90), c.Stats().Weight)
	c.Set("c", strings.Repeat("x", 30)) // 120 > 100: something goes
	st := c.Stats()
	assert.LessOrEqual(t, st.Weight, int64(100))
	_, ok := c.Get("c")
	assert.True(t, ok, "the entry just written stays")
	c.Set("huge", strings.Repeat("x", 101))
	_, ok = c.Get("huge")
	assert.False(t, ok, "an entry heavier than the cache is not stored")
	c.Set("c", "") // weight 0 counts as 1
	assert.LessOrEqual(t, c.Stats().Weight, int64(100))
}

func TestSetWithTTL(t *testing.T) {
	clk := newFakeClock()
	c := newCache[string, int](t, 100, cache.WithClock(clk), cache.WithTTL(time.Hour), cache.WithJitter(0))
	c.SetWithTTL("short", 1, time.Second)
	c.SetWithTTL("forever", 2, 0)
	c.SetWithTTL("forever too", 3, -time.Second)
	c.Set("default", 4)
	clk.Advance(time.Second)
	_, ok := c.Get("short")
	assert.False(t, ok, "short expired at its TTL")
	clk.Advance(time.Hour)
	_, ok = c.Get("default")
	assert.False(t, ok, "default expired after the cache's TTL")
	clk.Advance(100 * 365 * 24 * time.Hour)
	for _, k := range []string{"forever", "forever too"} {
		_, ok = c.Get(k)
		assert.True(t, ok, "%s expired", k)
	}
	// Two centuries on, the longest TTL still does not wrap into the past.
	clk.Advance(100 * 365 * 24 * time.Hour)
	c.SetWithTTL("max", 5, cache.MaxTTL)
	_, ok = c.Get("max")
	assert.True(t, ok, "an entry with MaxTTL expired at once")
}

// Each waiter is bounded by its own ctx; the load by none of them and it
// stores its value when every waiter has left.
func TestTakeWaitersBoundedByTheirOwnContext(t *testing.T) {
	c := newCache[string, int](t, 100)
	release := make(chan struct{})
	started := make(chan struct{})
	var loadErr atomic.Value
	load := func(ctx context.Context) (int, error) {
		close(started)
		<-release
		if err := ctx.Err(); err != nil {
			loadErr.Store(err)
		}
		return 42, nil
	}
	type key struct{}
	ctx1, cancel1 := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	errs := make(chan error, 2)
	go func() { _, err := c.Take(ctx1, "k", load); errs <- err }()
	<-started
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel2()
	go func() { _, err := c.Take(ctx2, "k", load); errs <- err }()
	cancel1()
	got := []error{<-errs, <-errs}
	assert.ElementsMatch(t, []error{context.Canceled, context.DeadlineExceeded}, got)
	close(release)
	v, err := c.Take(context.Background(), "k", func(context.Context) (int, error) {
		t.Error("a second load started")
		return 0, nil
	})
	// The first load may still be running: this Take joins it.
	require.NoError(t, err)
	assert.Equal(t, 42, v)
	assert.Nil(t, loadErr.Load(), "the load's context ended with its callers")
	assert.Equal(t, int64(1), c.Stats().Loads)
}

func TestTakeValuesOfFirstCallerReachLoader(t *testing.T) {
	c := newCache[string, string](t, 10)
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "trace-1")
	v, err := c.Take(ctx, "k", func(ctx context.Context) (string, error) {
		s, _ := ctx.Value(key{}).(string)
		_, hasDeadline := ctx.Deadline()
		if hasDeadline {
			return "", errors.New("deadline leaked into the load")
		}
		return s, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "trace-1", v)
}

func TestTakeErrorsSharedNotCached(t *testing.T) {
	c := newCache[string, int](t, 10)
	var calls int
	load := func(context.Context) (int, error) { calls++; return 0, errDown }
	for i := 0; i < 3; i++ {
		_, err := c.Take(context.Background(), "k", load)
		assert.ErrorIs(t, err, errDown)
	}
	assert.Equal(t, 3, calls, "an error is not cached")
	assert.Equal(t, int64(3), c.Stats().LoadErrors)
	_, err := c.Take(context.Background(), "k", nil)
	assert.EqualError(t, err, "cache: nil loader")
	_, err = c.TakeMany(context.Background(), []string{"k"}, nil)
	assert.EqualError(t, err, "cache: nil loader")
}

func TestTakeLoaderPanic(t *testing.T) {
	c := newCache[string, int](t, 10)
	_, err := c.Take(context.Background(), "k", func(context.Context) (int, error) { panic("boom") })
	var pe *syncx.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)
	assert.Contains(t, string(pe.Stack), "TestTakeLoaderPanic")
	_, err = c.TakeMany(context.Background(), []string{"a"}, func(context.Context, []string) (map[string]int, error) { panic(errDown) })
	assert.ErrorIs(t, err, errDown, "a panic with an error unwraps to it")
}

func TestNegativeCachingOff(t *testing.T) {
	c := newCache[string, int](t, 10, cache.WithNotFoundTTL(0))
	var calls int
	load := func(context.Context) (int, error) { calls++; return 0, cache.ErrNotFound }
	for i := 0; i < 3; i++ {
		_, err := c.Take(context.Background(), "k", load)
		assert.ErrorIs(t, err, cache.ErrNotFound)
	}
	assert.Equal(t, 3, calls)
	// A not-found answer removes a value that was there.
	c.Set("gone", 1)
	c.Delete("gone")
	assert.Equal(t, int64(0), c.Stats().Entries)
}

// Early refresh: once an entry is older than the refresh age, one Take
// starts a background reload; every caller keeps getting the current value
// until the new one lands.
func TestRefreshAfter(t *testing.T) {
	clk := newFakeClock()
	var events atomic.Int64
	c := newCache[string, int](t, 10, cache.WithClock(clk), cache.WithTTL(time.Minute),
		cache.WithRefreshAfter(40*time.Second), cache.WithJitter(0),
		cache.WithEventHook(func(e cache.Event) {
			if e.Kind == cache.EventRefreshError {
				events.Add(1)
			}
		}))
	ctx := context.Background()
	var calls atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) (int, error) {
		n := calls.Add(1)
		if n > 1 {
			<-release
		}
		return int(n), nil
	}
	v, err := c.Take(ctx, "k", load)
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	clk.Advance(39 * time.Second)
	for i := 0; i < 10; i++ {
		v, _ = c.Take(ctx, "k", load)
		assert.Equal(t, 1, v)
	}
	assert.Equal(t, int64(1), calls.Load(), "refreshed before the refresh age")
	clk.Advance(time.Second)
	for i := 0; i < 100; i++ {
		r, err := c.TakeResult(ctx, "k", load)
		require.NoError(t, err)
		assert.Equal(t, cache.Result[int]{Value: 1, Source: cache.SourceCache}, r, "step %d", i)
	}
	close(release)
	require.Eventually(t, func() bool { v, _ := c.Get("k"); return v == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int64(2), calls.Load(), "one refresh for 100 callers")
	st := c.Stats()
	assert.Equal(t, int64(1), st.Refreshes)
	assert.Equal(t, int64(2), st.Loads)

	// A failed refresh keeps the entry and is reported.
	clk.Advance(40 * time.Second)
	v, err = c.Take(ctx, "k", func(context.Context) (int, error) { return 0, errDown })
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	require.Eventually(t, func() bool { return c.Stats().RefreshErrors == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int64(1), events.Load())
	v, ok := c.Get("k")
	assert.True(t, ok)
	assert.Equal(t, 2, v)

	// The failed refresh is retried halfway to the expiry (20 s left at the
	// failure: 10 s later), not by the next Take.
	var retries atomic.Int64
	retry := func(context.Context) (int, error) { retries.Add(1); return 3, nil }
	clk.Advance(9 * time.Second)
	for i := 0; i < 10; i++ {
		v, err = c.Take(ctx, "k", retry)
		require.NoError(t, err)
		assert.Equal(t, 2, v)
	}
	assert.Equal(t, int64(0), retries.Load(), "retried before halfway to the expiry")
	clk.Advance(time.Second)
	_, err = c.Take(ctx, "k", retry)
	require.NoError(t, err)
	require.Eventually(t, func() bool { v, _ := c.Get("k"); return v == 3 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int64(1), retries.Load())
}

// Keys of every kind: hashed ones spread over shards, others share one.
func TestKeyKinds(t *testing.T) {
	type id string
	type point struct{ X, Y int }
	t.Run("named string", func(t *testing.T) {
		c := newCache[id, int](t, 1000)
		c.Set("a", 1)
		v, ok := c.Get("a")
		assert.True(t, ok)
		assert.Equal(t, 1, v)
	})
	t.Run("padded struct", func(t *testing.T) {
		type padded struct {
			A int8
			B int64
		}
		c := newCache[padded, int](t, 1000)
		c.Set(padded{1, 2}, 3)
		v, ok := c.Get(padded{1, 2})
		assert.True(t, ok && v == 3)
		_, err := cache.New[padded, int](1000, cache.WithShards(4))
		assert.ErrorContains(t, err, "keys of type cache_test.padded cannot be spread over shards")
		type named struct{ S string }
		_, err = cache.New[named, int](1000, cache.WithShards(2))
		assert.ErrorContains(t, err, "WithShards must be 1, got 2")
	})
	t.Run("struct", func(t *testing.T) {
		c := newCache[point, int](t, 1000, cache.WithShards(8))
		for i := 0; i < 500; i++ {
			c.Set(point{i, -i}, i)
		}
		for i := 0; i < 500; i++ {
			v, ok := c.Get(point{i, -i})
			require.True(t, ok, "point %d", i)
			require.Equal(t, i, v)
		}
	})
	t.Run("int8 and bool and float", func(t *testing.T) {
		c8 := newCache[int8, int](t, 1000)
		for i := -128; i < 128; i++ {
			c8.Set(int8(i), i)
		}
		assert.Equal(t, int64(256), c8.Stats().Entries)
		cb := newCache[bool, int](t, 10)
		cb.Set(true, 1)
		v, ok := cb.Get(true)
		assert.True(t, ok && v == 1)
		cf := newCache[float64, int](t, 10)
		cf.Set(0.0, 1)
		v, ok = cf.Get(math.Copysign(0, -1))
		assert.True(t, ok && v == 1, "-0 and +0 are the same key")
	})
	t.Run("interface", func(t *testing.T) {
		c := newCache[any, int](t, 10)
		c.Set(1, 1)
		c.Set("1", 2)
		v, _ := c.Get(1)
		assert.Equal(t, 1, v)
		v, _ = c.Get("1")
		assert.Equal(t, 2, v)
	})
}

func TestSourceAndEventKindStrings(t *testing.T) {
	assert.Equal(t, "cache", cache.SourceCache.String())
	assert.Equal(t, "loader", cache.SourceLoader.String())
	assert.Equal(t, "stale", cache.SourceStale.String())
	assert.Equal(t, "unknown", cache.Source(9).String())
	assert.Equal(t, "load-error", cache.EventLoadError.String())
	assert.Equal(t, "refresh-error", cache.EventRefreshError.String())
	assert.Equal(t, "stale-served", cache.EventStaleServed.String())
	assert.Equal(t, "unknown", cache.EventKind(0).String())
}

func TestGetAllocatesNothing(t *testing.T) {
	c := newCache[string, int](t, 100, cache.WithTTL(time.Hour))
	c.Set("k", 1)
	allocs := testing.AllocsPerRun(1000, func() {
		c.Get("k")
		c.Get("missing")
	})
	assert.Equal(t, 0.0, allocs)
	allocs = testing.AllocsPerRun(1000, func() { c.Set("k", 2) })
	assert.Equal(t, 0.0, allocs, "Set of a present key")
	allocs = testing.AllocsPerRun(1000, func() {
		_, _ = c.Take(context.Background(), "k", func(context.Context) (int, error) { return 0, nil })
	})
	assert.Equal(t, 0.0, allocs, "Take hit")
}
