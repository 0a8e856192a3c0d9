package limit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func keyedShapes(t *testing.T, clk Clock) map[string]Limiter {
	t.Helper()
	tb, err := NewTokenBucket(1, 3, WithClock(clk))
	require.NoError(t, err)
	fw, err := NewFixedWindow(3, 3*time.Second, WithClock(clk))
	require.NoError(t, err)
	sw, err := NewSlidingWindow(3, 3*time.Second, WithClock(clk))
	require.NoError(t, err)
	return map[string]Limiter{"token": tb, "fixed": fw, "sliding": sw}
}

func TestKeyedPerKeyQuota(t *testing.T) {
	for name, l := range keyedShapes(t, newFakeClock()) {
		k, err := NewKeyed(l)
		require.NoError(t, err)
		for _, key := range []string{"a", "b", "c"} {
			for i := range 5 {
				r, err := k.AllowAt(epoch, key, 1)
				require.NoError(t, err)
				assert.Equal(t, i < 3, r.Allowed, "%s: key %s request %d", name, key, i)
				assert.Equal(t, 3, r.Limit)
			}
		}
		assert.Equal(t, 3, k.Len(), name)
		r, err := k.AllowAt(epoch, "a", 4)
		assert.ErrorIs(t, err, ErrInvalidCost, name)
		assert.Equal(t, Forever, r.RetryAfter)
		// Back at full quota: every key is forgotten by Prune.
		assert.Equal(t, 0, k.Prune(), "%s: nobody is full yet", name)
	}
}

func TestKeyedExactCount(t *testing.T) {
	// 100/s burst 10 per key over 10s: 1,010 for each of 3 keys, with
	// goroutines racing per key.
	clk := newFakeClock()
	b, err := NewTokenBucket(100, 10, WithClock(clk))
	require.NoError(t, err)
	k, err := NewKeyed(b)
	require.NoError(t, err)
	var mu sync.Mutex
	counts := map[string]int{}
	for ms := 0; ms <= 10_000; ms += 5 {
		clk.Set(epoch.Add(time.Duration(ms) * time.Millisecond))
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprint("k", g%3)
				for range 4 {
					if k.Allow(key) {
						mu.Lock()
						counts[key]++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
	}
	assert.Equal(t, map[string]int{"k0": 1010, "k1": 1010, "k2": 1010}, counts)
}

func TestKeyedHardCap(t *testing.T) {
	for name, l := range keyedShapes(t, newFakeClock()) {
		k, err := NewKeyed(l, WithMaxKeys(100))
		require.NoError(t, err)
		for i := range 1000 {
			r, err := k.AllowAt(epoch, fmt.Sprint("key", i), 1)
			require.NoError(t, err)
			require.True(t, r.Allowed, "%s: a new key has its quota", name)
			require.LessOrEqual(t, k.Len(), 100, name)
		}
		st := k.Stats()
		assert.Equal(t, 100, st.Keys, name)
		assert.Equal(t, int64(900), st.Displaced, "%s: all were live", name)
		assert.Zero(t, st.Evicted, name)
	}
}

func TestKeyedIdleEviction(t *testing.T) {
	for name, l := range keyedShapes(t, newFakeClock()) {
		k, err := NewKeyed(l, WithMaxKeys(1000))
		require.NoError(t, err)
		for i := range 500 {
			_, err := k.AllowAt(epoch, fmt.Sprint("old", i), 1)
			require.NoError(t, err)
		}
		// An hour later every old key is back at full quota: new keys push
		// them out a few at a time (each new key looks at 8 keys of its
		// shard), the cap is never reached, nothing live is displaced.
		later := epoch.Add(time.Hour)
		for i := range 499 {
			_, err := k.AllowAt(later, fmt.Sprint("new", i), 1)
			require.NoError(t, err)
		}
		st := k.Stats()
		assert.Zero(t, st.Displaced, name)
		assert.Greater(t, st.Evicted, int64(350), "%s: most old keys forgotten", name)
		assert.Equal(t, 999-int(st.Evicted), st.Keys, name)
		// At the cap, a new key pushes out a full one rather than a live one.
		for i := range 600 {
			_, err := k.AllowAt(later, fmt.Sprint("newer", i), 1)
			require.NoError(t, err)
		}
		st = k.Stats()
		assert.Greater(t, st.Evicted, int64(450), "%s: old keys first", name)
		assert.Equal(t, int64(1599-1000), st.Evicted+st.Displaced, name)
		assert.Equal(t, 1000, st.Keys, name)
	}
	// Prune forgets every full key at once.
	clk := newFakeClock()
	for name, l := range keyedShapes(t, clk) {
		k, err := NewKeyed(l)
		require.NoError(t, err)
		for i := range 300 {
			require.True(t, k.Allow(fmt.Sprint(i)))
		}
		assert.Zero(t, k.Prune(), name)
		clk.Add(time.Hour)
		assert.Equal(t, 300, k.Prune(), name)
		assert.Zero(t, k.Len(), name)
		clk.Set(epoch)
	}
}

func TestKeyedEvictionLosesNothing(t *testing.T) {
	// A key is evicted only while back at full quota, and a call that finds
	// its key's state evicted between the lookup and the decision looks the
	// key up again, so nothing is counted in a dead state. With the clock
	// stopped, an idle timeout of 0 and Prune racing the calls, each of 4
	// keys admits its burst of 5 exactly once: a consumption lost in a dead
	// state would hand out a fresh burst.
	for round := range 10 {
		clk := newFakeClock()
		b, err := NewTokenBucket(1e-3, 5, WithClock(clk))
		require.NoError(t, err)
		k, err := NewKeyed(b, WithIdleTimeout(0))
		require.NoError(t, err)
		var wg sync.WaitGroup
		var mu sync.Mutex
		passed := 0
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					if g == 0 {
						k.Prune()
						continue
					}
					if k.Allow(fmt.Sprint("key", (g+i)%4)) {
						mu.Lock()
						passed++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, 20, passed, "round %d: 4 keys, burst 5, no refill", round)
	}
}

func TestKeyedHotKey(t *testing.T) {
	// One key hammered past its quota does not take anything from the
	// others.
	k, _ := newKeyedBucket(t, 10, 10)
	for range 10_000 {
		k.Allow("hot")
	}
	for i := range 100 {
		r, err := k.AllowN(context.Background(), fmt.Sprint("cold", i), 10)
		require.NoError(t, err)
		assert.True(t, r.Allowed)
	}
}

func TestKeyedExtremeTimes(t *testing.T) {
	// Times a century apart and before the origin neither wrap around nor
	// evict a key in use.
	for name, l := range keyedShapes(t, newFakeClock()) {
		k, err := NewKeyed(l, WithMaxKeys(10))
		require.NoError(t, err)
		for _, at := range []time.Time{epoch, epoch.Add(100 * 365 * 24 * time.Hour), epoch.Add(-100 * 365 * 24 * time.Hour), {}, time.Unix(1<<62, 0), epoch} {
			r, err := k.AllowAt(at, "k", 3)
			require.NoError(t, err, name)
			assert.GreaterOrEqual(t, r.Remaining, 0, name)
			assert.GreaterOrEqual(t, r.RetryAfter, time.Duration(0), name)
			assert.GreaterOrEqual(t, r.ResetAfter, time.Duration(0), name)
		}
		r, _ := k.AllowAt(epoch, "k", 1)
		assert.False(t, r.Allowed, "%s: the key used at epoch is still limited", name)
	}
}

func TestKeyedInvalid(t *testing.T) {
	b, _ := NewTokenBucket(1, 1)
	_, err := NewKeyed(b, WithMaxKeys(0))
	assert.EqualError(t, err, "limit: max keys must be between 1 and 1073741824, got 0")
	_, err = NewKeyed(b, WithMaxKeys(MaxKeys+1))
	assert.EqualError(t, err, "limit: max keys must be between 1 and 1073741824, got 1073741825")
	_, err = NewKeyed(nil)
	assert.EqualError(t, err, "limit: nil Limiter")
}

func TestKeyedZeroAllocs(t *testing.T) {
	for name, l := range keyedShapes(t, newFakeClock()) {
		k, err := NewKeyed(l)
		require.NoError(t, err)
		k.Allow("203.0.113.7")
		ctx := context.Background()
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = k.AllowN(ctx, "203.0.113.7", 1) }), name)
	}
}

func TestKeyedIdleTimeout(t *testing.T) {
	clk := newFakeClock()
	for name, l := range keyedShapes(t, clk) {
		clk.Set(epoch)
		k, err := NewKeyed(l, WithIdleTimeout(10*time.Second))
		require.NoError(t, err)
		require.True(t, k.Allow("a"))
		// Full again after at most 3s (+ a slot): kept until 10s after that.
		clk.Add(4 * time.Second)
		assert.Zero(t, k.Prune(), "%s: full, not idle long enough", name)
		clk.Add(10 * time.Second)
		assert.Equal(t, 1, k.Prune(), "%s: idle 10s", name)
	}
	b, _ := NewTokenBucket(1, 1)
	_, err := NewKeyed(b, WithIdleTimeout(-time.Second))
	assert.EqualError(t, err, "limit: idle timeout must be between 0 and 876000h0m0s, got -1s")
}

func TestKeyedCapHook(t *testing.T) {
	clk := newFakeClock()
	b, err := NewTokenBucket(0.1, 3, WithClock(clk))
	require.NoError(t, err)
	var events []KeyedStats
	k, err := NewKeyed(b, WithMaxKeys(10), WithCapHook(func(s KeyedStats) { events = append(events, s) }))
	require.NoError(t, err)
	for i := range 100 { // 90 live keys displaced within one second: one event
		require.True(t, k.Allow(fmt.Sprint(i)))
	}
	require.Len(t, events, 1)
	assert.Equal(t, KeyedStats{Keys: 9, Displaced: 1}, events[0])
	clk.Add(time.Second)
	require.True(t, k.Allow("one more"))
	require.Len(t, events, 2)
	assert.Equal(t, int64(91), events[1].Displaced)
	assert.Equal(t, int64(91), k.Stats().Displaced)

	_, err = NewKeyed(b, WithCapHook(nil))
	assert.EqualError(t, err, "limit: nil cap hook")
}
