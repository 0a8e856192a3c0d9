package breaker_test

import (
	"context"
	"fmt"
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
