package breaker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/breaker"
)

func TestGroupCreatesOnFirstUse(t *testing.T) {
	g, err := breaker.NewGroup()
	require.NoError(t, err)
	assert.Equal(t, 0, g.Len())
	a := g.Get("a")
	assert.Same(t, a, g.Get("a"))
	assert.NotSame(t, a, g.Get("b"))
	assert.Equal(t, "a", a.Name())
	names := g.Names()
	sort.Strings(names)
	assert.Equal(t, []string{"a", "b"}, names)
}

func TestGroupBreakersAreIndependent(t *testing.T) {
	g, err := breaker.NewGroup(breaker.WithProbeInterval(time.Hour), breaker.WithRand(func() float64 { return 0 }))
	require.NoError(t, err)
	ctx := context.Background()
	for range 100 {
		_ = g.Do(ctx, "es-1:9200", func(context.Context) error { return errDown })
	}
	err = g.Do(ctx, "es-1:9200", func(context.Context) error { return nil })
	assert.ErrorIs(t, err, breaker.ErrServiceUnavailable)
	assert.EqualError(t, err, "breaker: es-1:9200: service unavailable")
	assert.NoError(t, g.Do(ctx, "es-2:9200", func(context.Context) error { return nil }))

	fallback := func(_ context.Context, err error) error { return fmt.Errorf("cached: %w", err) }
	err = g.DoWithFallback(ctx, "es-1:9200", func(context.Context) error { return nil }, fallback)
	assert.EqualError(t, err, "cached: breaker: es-1:9200: service unavailable")
}

func TestGroupEvictsLeastRecentlyUsedWhenFull(t *testing.T) {
	clk := newFakeClock()
	g, err := breaker.NewGroup(breaker.WithClock(clk), breaker.WithMaxBreakers(3))
	require.NoError(t, err)
	for _, name := range []string{"a", "b", "c"} {
		_, _ = g.Get(name).Allow()
		clk.Advance(time.Second)
	}
	_, _ = g.Get("a").Allow() // a is now the most recently used
	clk.Advance(time.Second)
	g.Get("d")
	names := g.Names()
	sort.Strings(names)
	assert.Equal(t, []string{"a", "c", "d"}, names)
}

func TestGroupDropsIdleBreakers(t *testing.T) {
	clk := newFakeClock()
	g, err := breaker.NewGroup(breaker.WithClock(clk), breaker.WithIdleTimeout(time.Minute))
	require.NoError(t, err)
	old := g.Get("old")
	_, _ = old.Allow()
	busy := g.Get("busy")
	for range 12 {
		clk.Advance(10 * time.Second)
		_, _ = busy.Allow()
	}
	g.Get("new")
	names := g.Names()
	sort.Strings(names)
	assert.Equal(t, []string{"busy", "new"}, names)
	assert.NotSame(t, old, g.Get("old"), "a dropped name gets a fresh breaker")
}

func TestGroupRefusesInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		opt  breaker.GroupOption
		want string
	}{
		{breaker.WithMaxBreakers(0), "breaker: max breakers must be at least 1, got 0"},
		{breaker.WithIdleTimeout(0), "breaker: idle timeout must be positive, got 0s"},
		{nil, "breaker: nil option"},
		{breaker.KeyedOption{}, "breaker: zero KeyedOption (make options with the With... functions)"},
		{breaker.WithK(0), "breaker: K must be a finite number of at least 1, got 0"},
	} {
		g, err := breaker.NewGroup(tc.opt)
		assert.Nil(t, g)
		assert.EqualError(t, err, tc.want)
	}
}

func TestGroupConcurrentUse(t *testing.T) {
	g, err := breaker.NewGroup(breaker.WithMaxBreakers(8))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				name := fmt.Sprint((i * (w + 1)) % 20)
				_ = g.Do(context.Background(), name, func(context.Context) error { return nil })
				assert.LessOrEqual(t, g.Len(), 8)
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, g.Len(), 8)
}

func TestGroupGetDoesNotAllocate(t *testing.T) {
	g, err := breaker.NewGroup()
	require.NoError(t, err)
	g.Get("es-1:9200")
	name := "es-1:9200"
	assert.Equal(t, 0.0, testing.AllocsPerRun(1000, func() { g.Get(name) }))
}

// TestGroupEvictsBusyBreakerNever is the scenario of a full group of two:
// a is throttling a failing host and was used last, b was used before it,
// both within the same bucket. Adding c must evict b, every time.
func TestGroupEvictsBusyBreakerNever(t *testing.T) {
	evictedBusy := 0
	for trial := range 1000 {
		rng := rand.New(rand.NewPCG(uint64(trial), 7))
		clk := newFakeClock()
		g, err := breaker.NewGroup(breaker.WithClock(clk), breaker.WithMaxBreakers(2),
			breaker.WithRand(rand.New(rand.NewPCG(uint64(trial), 8)).Float64))
		require.NoError(t, err)
		ctx := context.Background()
		_ = g.Do(ctx, "b", func(context.Context) error { return nil })
		clk.Advance(time.Duration(rng.IntN(100)) * time.Millisecond)
		a := g.Get("a")
		for range 40 {
			clk.Advance(time.Millisecond)
			_ = a.Do(ctx, func(context.Context) error { return errDown })
		}
		require.Greater(t, a.Stats().Rejections, int64(0), "trial %d: a is throttling", trial)
		clk.Advance(time.Duration(rng.IntN(100)) * time.Millisecond)
		g.Get("c")
		names := g.Names()
		sort.Strings(names)
		if !assert.Equal(t, []string{"a", "c"}, names, "trial %d", trial) {
			evictedBusy++
		}
	}
	assert.Equal(t, 0, evictedBusy, "trials of 1000 in which the busy breaker was evicted")
}

// TestGroupEvictsExactlyTheLeastRecentlyUsed drives a small group with
// random uses on a fake clock that often does not move (ties) and checks
// every eviction against a model: the evicted breaker is one whose last
// use is the oldest, never one used more recently than another.
func TestGroupEvictsExactlyTheLeastRecentlyUsed(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 1))
		clk := newFakeClock()
		const capacity = 5
		g, err := breaker.NewGroup(breaker.WithClock(clk), breaker.WithMaxBreakers(capacity), breaker.WithIdleTimeout(24*time.Hour))
		require.NoError(t, err)
		lastUse := map[string]time.Time{}
		for step := range 2000 {
			clk.Advance(time.Duration(rng.IntN(3)) * time.Millisecond)
			name := fmt.Sprint("host-", rng.IntN(12))
			_, held := lastUse[name]
			before := len(lastUse)
			oldest := time.Time{}
			for _, at := range lastUse {
				if oldest.IsZero() || at.Before(oldest) {
					oldest = at
				}
			}
			_, _ = g.Get(name).Allow()
			now := clk.Now()
			names := g.Names()
			got := map[string]bool{}
			for _, n := range names {
				got[n] = true
			}
			require.True(t, got[name], "seed %d step %d: %s held", seed, step, name)
			for n, at := range lastUse {
				if !got[n] {
					require.False(t, held, "seed %d step %d: %s evicted on a lookup of a held name", seed, step, n)
					require.Equal(t, capacity, before, "seed %d step %d: %s evicted below capacity", seed, step, n)
					require.True(t, at.Equal(oldest), "seed %d step %d: evicted %s last used at %v, but the oldest use is %v",
						seed, step, n, at.Format(time.StampMilli), oldest.Format(time.StampMilli))
					delete(lastUse, n)
				}
			}
			lastUse[name] = now
			require.Len(t, lastUse, len(names), "seed %d step %d", seed, step)
		}
	}
}

// TestGroupChurnCostsLittle: with the default cap of 1,024 full, every new
// name must cost about what its breaker costs, not a copy of the index.
func TestGroupChurnCostsLittle(t *testing.T) {
	const names = 5_000
	g, err := breaker.NewGroup()
	require.NoError(t, err)
	for i := range breaker.DefaultMaxBreakers {
		g.Get(fmt.Sprint("warm-", i))
	}
	keys := make([]string, names)
	for i := range keys {
		keys[i] = fmt.Sprint("host-", i)
	}
	measure := func(fn func(i int)) (bytes, allocs float64) {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for i := range names {
			fn(i)
		}
		runtime.ReadMemStats(&m1)
		return float64(m1.TotalAlloc-m0.TotalAlloc) / names, float64(m1.Mallocs-m0.Mallocs) / names
	}
	breakerBytes, breakerAllocs := measure(func(i int) {
		_, _ = breaker.New(breaker.WithName(keys[i]))
	})
	groupBytes, groupAllocs := measure(func(i int) { g.Get(keys[i]) })
	assert.Equal(t, breaker.DefaultMaxBreakers, g.Len())
	t.Logf("per new name: %.0f B, %.2f allocs; the breaker alone: %.0f B, %.2f allocs", groupBytes, groupAllocs, breakerBytes, breakerAllocs)
	assert.LessOrEqual(t, groupBytes-breakerBytes, 512.0, "bytes per new name beyond the breaker")
	assert.LessOrEqual(t, groupAllocs-breakerAllocs, 2.0, "allocations per new name beyond the breaker")
}
