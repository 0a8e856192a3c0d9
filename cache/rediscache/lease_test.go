package rediscache_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/levee-go/levee/cache/rediscache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A lease holder that dies releases nothing: the others wait up to the
// bound and load themselves, or take the lease once it expires.
func TestLeaseHolderDies(t *testing.T) {
	rdb := newClient(t)
	ctx := ctxT(t, 10*time.Second)
	for _, tc := range []struct {
		name          string
		leaseTTL      time.Duration // the dead holder's lease
		wait          time.Duration
		wantTimeouts  int64
		lo, hi        time.Duration // how long Take takes
		wantLeasesWon int64
	}{
		// hi is well under the other bound (the lease's 2s, the wait's 2s),
		// with room for a loaded machine.
		{"wait runs out", 2 * time.Second, 150 * time.Millisecond, 1, 150 * time.Millisecond, 1500 * time.Millisecond, 0},
		{"lease expires", 200 * time.Millisecond, 2 * time.Second, 0, 150 * time.Millisecond, 1500 * time.Millisecond, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := prefix(t)
			var mu sync.Mutex
			var events []rediscache.EventKind
			c, err := rediscache.New[user](rdb, rediscache.WithPrefix(p), rediscache.WithLease(time.Second, tc.wait),
				rediscache.WithEventHook(func(e rediscache.Event) {
					mu.Lock()
					events = append(events, e.Kind)
					mu.Unlock()
				}))
			require.NoError(t, err)
			defer c.Close()
			// The lease of an instance that died while loading.
			require.NoError(t, rdb.Set(ctx, p+"k\x00lease", "dead", tc.leaseTTL).Err())

			loader := &countingLoader{}
			begun := time.Now()
			v, err := c.Take(ctx, "k", loader.load)
			took := time.Since(begun)
			require.NoError(t, err)
			assert.Equal(t, "k", v.ID)
			assert.Equal(t, int64(1), loader.calls.Load())
			assert.GreaterOrEqual(t, took, tc.lo)
			assert.Less(t, took, tc.hi)
			st := c.Stats()
			assert.Equal(t, int64(1), st.LeaseWaits)
			assert.Equal(t, tc.wantTimeouts, st.LeaseTimeouts)
			assert.Equal(t, tc.wantLeasesWon, st.LeasesWon)
			mu.Lock()
			if tc.wantTimeouts > 0 {
				assert.Equal(t, []rediscache.EventKind{rediscache.EventLeaseTimeout}, events)
			} else {
				assert.Empty(t, events)
			}
			mu.Unlock()
			t.Logf("Take returned after %v", took.Round(time.Millisecond))
		})
	}
}

// A stale value is served at once while another instance holds the lease,
// and when the reload fails.
func TestStale(t *testing.T) {
	rdb := newClient(t)
	ctx := ctxT(t, 10*time.Second)
	p := prefix(t)
	c, err := rediscache.New[user](rdb, rediscache.WithPrefix(p), rediscache.WithJitter(0),
		rediscache.WithTTL(100*time.Millisecond), rediscache.WithStale(10*time.Second),
		rediscache.WithLease(time.Second, time.Second))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set(ctx, "k", user{ID: "k", Name: "old"}))
	pttl, err := rdb.PTTL(ctx, p+"k").Result()
	require.NoError(t, err)
	assert.Greater(t, pttl, 10*time.Second, "the stale window is kept in Redis")
	time.Sleep(150 * time.Millisecond) // past the TTL, within the stale window

	// Another instance holds the lease: the stale value, at once.
	require.NoError(t, rdb.Set(ctx, p+"k\x00lease", "other", time.Second).Err())
	loader := &countingLoader{}
	begun := time.Now()
	v, err := c.Take(ctx, "k", loader.load)
	require.NoError(t, err)
	assert.Equal(t, "old", v.Name)
	assert.Less(t, time.Since(begun), 500*time.Millisecond, "well under the lease wait of 1s")
	assert.Equal(t, int64(0), loader.calls.Load())
	_, err = c.Get(ctx, "k")
	assert.ErrorIs(t, err, rediscache.ErrMiss, "Get never returns a stale value")

	// The lease is free but the reload fails: the stale value again.
	require.NoError(t, rdb.Del(ctx, p+"k\x00lease").Err())
	failing := &countingLoader{fail: errors.New("database down")}
	v, err = c.Take(ctx, "k", failing.load)
	require.NoError(t, err)
	assert.Equal(t, "old", v.Name)
	assert.Equal(t, int64(1), failing.calls.Load())

	// The reload succeeds: the new value.
	v, err = c.Take(ctx, "k", loader.load)
	require.NoError(t, err)
	assert.Equal(t, "name of k", v.Name)
	st := c.Stats()
	assert.Equal(t, int64(2), st.StaleServed)
	assert.Equal(t, int64(1), st.LoadErrors)
	assert.Equal(t, int64(2), st.LeasesWon)
}
