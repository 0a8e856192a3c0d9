package rediscache_test

import (
	"testing"
	"time"

	"github.com/levee-go/levee/cache/rediscache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The local tier answers without Redis, follows Set and Delete of its own
// instance at once (go-redis/cache#105 keeps the old value on overwrite),
// and keeps sub-second TTLs (go-redis/cache turns them into an hour).
func TestLocalTier(t *testing.T) {
	rdb := newClient(t)
	p := prefix(t)
	const localTTL = time.Second
	a, err := rediscache.New[user](rdb, rediscache.WithPrefix(p), rediscache.WithLocal(100, localTTL))
	require.NoError(t, err)
	defer a.Close()
	b, err := rediscache.New[user](newClient(t), rediscache.WithPrefix(p), rediscache.WithLocal(100, localTTL))
	require.NoError(t, err)
	defer b.Close()
	ctx := ctxT(t, 10*time.Second)
	loader := &countingLoader{}

	v, err := a.Take(ctx, "k", loader.load)
	require.NoError(t, err)
	require.Equal(t, "k", v.ID)
	// Redis loses the key behind the tier's back: the tier still answers.
	require.NoError(t, rdb.Del(ctx, p+"k").Err())
	for i := 0; i < 100; i++ {
		v, err = a.Take(ctx, "k", loader.load)
		require.NoError(t, err)
		assert.Equal(t, "k", v.ID)
	}
	assert.Equal(t, int64(1), loader.calls.Load())
	assert.Equal(t, int64(100), a.Stats().LocalHits)

	// Overwrite: the instance that wrote reads the new value at once.
	require.NoError(t, a.Set(ctx, "k", user{ID: "k", Name: "second"}))
	v, err = a.Take(ctx, "k", loader.load)
	require.NoError(t, err)
	assert.Equal(t, "second", v.Name)
	v, err = a.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "second", v.Name)

	// Another instance caches it locally, then a overwrites it: b sees the
	// change once its local copy expires, within the local TTL.
	v, err = b.Take(ctx, "k", loader.load)
	require.NoError(t, err)
	assert.Equal(t, "second", v.Name)
	require.NoError(t, a.Set(ctx, "k", user{ID: "k", Name: "third"}))
	changed := time.Now()
	v, err = b.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "second", v.Name, "b's local copy, before its TTL")
	for v.Name != "third" {
		require.Less(t, time.Since(changed), localTTL+500*time.Millisecond, "b still reads %q", v.Name)
		time.Sleep(10 * time.Millisecond)
		v, err = b.Get(ctx, "k")
		require.NoError(t, err)
	}
	t.Logf("another instance saw the overwrite after %v (local TTL %v)", time.Since(changed).Round(time.Millisecond), localTTL)

	// Delete: gone from the tier and from Redis at once in this instance.
	require.NoError(t, a.Delete(ctx, "k"))
	_, err = a.Get(ctx, "k")
	assert.ErrorIs(t, err, rediscache.ErrMiss)
	v, err = a.Take(ctx, "k", loader.load)
	require.NoError(t, err)
	assert.Equal(t, "name of k", v.Name)
	assert.Equal(t, int64(2), loader.calls.Load())

	// A sub-second TTL stays sub-second, in Redis and in the tier.
	require.NoError(t, a.SetWithTTL(ctx, "short", user{ID: "short"}, 150*time.Millisecond))
	pttl, err := rdb.PTTL(ctx, p+"short").Result()
	require.NoError(t, err)
	assert.Greater(t, pttl, 100*time.Millisecond)
	assert.LessOrEqual(t, pttl, 158*time.Millisecond) // +5% jitter
	_, err = a.Get(ctx, "short")
	require.NoError(t, err)
	time.Sleep(250 * time.Millisecond)
	_, err = a.Get(ctx, "short")
	assert.ErrorIs(t, err, rediscache.ErrMiss, "a 150ms entry 250ms later")

	// Not found is remembered locally too.
	nf := &countingLoader{fail: rediscache.ErrNotFound}
	for i := 0; i < 10; i++ {
		_, err = a.Take(ctx, "none", nf.load)
		assert.ErrorIs(t, err, rediscache.ErrNotFound)
	}
	assert.Equal(t, int64(1), nf.calls.Load())
}
