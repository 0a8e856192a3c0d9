package rediscache_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/levee-go/levee/cache/rediscache"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test 6, cluster: the cache on the 3-master cluster of the harness, with
// keys spread over every master.
func TestCluster(t *testing.T) {
	addrs := clusterAddrs(t)
	ctx := ctxT(t, 20*time.Second)
	p := prefix(t)
	var caches [2]*rediscache.Cache[user]
	for i := range caches {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		t.Cleanup(func() { _ = rdb.Close() })
		c, err := rediscache.New[user](rdb, rediscache.WithPrefix(p), rediscache.WithLease(5*time.Second, 5*time.Second))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		caches[i] = c
	}
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}

	// Take: each key loaded once across both instances.
	loader := &countingLoader{delay: 10 * time.Millisecond}
	together(600, func(i int) {
		v, err := caches[i%2].Take(ctx, keys[i/2], loader.load)
		if assert.NoError(t, err) {
			assert.Equal(t, keys[i/2], v.ID)
		}
	})
	var timeouts int64
	for _, c := range caches {
		timeouts += c.Stats().LeaseTimeouts
	}
	assert.Equal(t, int64(300), loader.calls.Load(), "loads of 300 keys on 2 instances (lease waits that ran out: %d)", timeouts)

	// The keys landed on every master.
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer rdb.Close()
	var masters, withKeys atomic.Int64
	require.NoError(t, rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		masters.Add(1)
		n, err := m.Keys(ctx, p+"*").Result()
		if len(n) >= 50 {
			withKeys.Add(1)
		}
		return err
	}))
	assert.Equal(t, int64(3), masters.Load())
	assert.Equal(t, int64(3), withKeys.Load(), "masters holding at least 50 of the 300 keys")

	// TakeMany across slots: all hits now, one loader call for new keys.
	var batches atomic.Int64
	many := func(_ context.Context, missing []string) (map[string]user, error) {
		batches.Add(1)
		m := make(map[string]user, len(missing))
		for _, k := range missing {
			if k != "user:none" {
				m[k] = user{ID: k}
			}
		}
		return m, nil
	}
	got, err := caches[1].TakeMany(ctx, keys, many)
	require.NoError(t, err)
	assert.Len(t, got, 300)
	assert.Equal(t, int64(0), batches.Load())
	got, err = caches[1].TakeMany(ctx, append(keys[:10:10], "user:new1", "user:new2", "user:none"), many)
	require.NoError(t, err)
	assert.Len(t, got, 12)
	assert.Equal(t, int64(1), batches.Load())

	// Delete across slots, then everything is loaded again.
	require.NoError(t, caches[0].Delete(ctx, keys...))
	n, err := rdb.Exists(ctx, p+keys[0]).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(0), n)
	_, err = caches[0].TakeMany(ctx, keys, many)
	require.NoError(t, err)
	assert.Equal(t, int64(2), batches.Load())
	_, err = caches[0].Take(ctx, "user:none", loader.load)
	assert.ErrorIs(t, err, rediscache.ErrNotFound)
	assert.Equal(t, int64(300), loader.calls.Load())
	st := caches[0].Stats()
	assert.Equal(t, int64(0), st.RedisErrors)
}
