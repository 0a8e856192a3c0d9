package cache_test

import (
	"sync"
	"testing"
	"time"

	"github.com/levee-go/levee/cache"
	"github.com/stretchr/testify/require"
)

// fakeClock is a Clock moved by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func newCache[K comparable, V any](t *testing.T, capacity int, opts ...cache.Option) *cache.Cache[K, V] {
	t.Helper()
	c, err := cache.New[K, V](capacity, opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}
