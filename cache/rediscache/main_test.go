package rediscache_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// redisAddr is the address of the throwaway server `make test` starts
// (scripts/with-redis.sh). Without one the test skips loudly, except under
// CI=true, where a missing server is a failure.
func redisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("LEVEE_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("LEVEE_REDIS_ADDR is not set under CI=true: run the tests with `make test`, which starts redis-server")
		}
		t.Skip("SKIPPING: LEVEE_REDIS_ADDR is not set; run `make test` (it starts a throwaway redis-server) to include this test")
	}
	return addr
}

// clusterAddrs are the three masters of the throwaway cluster of
// scripts/with-redis.sh, with the same skip-or-fail rule as redisAddr.
func clusterAddrs(t testing.TB) []string {
	t.Helper()
	addrs := os.Getenv("LEVEE_REDIS_CLUSTER_ADDRS")
	if addrs == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("LEVEE_REDIS_CLUSTER_ADDRS is not set under CI=true: run the tests with `make test`, which starts a Redis Cluster")
		}
		t.Skip("SKIPPING: LEVEE_REDIS_CLUSTER_ADDRS is not set; run `make test` (it starts a throwaway Redis Cluster) to include this test")
	}
	return strings.Split(addrs, ",")
}

// newClient returns a client of the shared server, closed with the test.
// Each call is a client of its own, like an instance of a service.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr(t), PoolSize: 64})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, rdb.Ping(ctx).Err())
	return rdb
}

var prefixSeq atomic.Int64

// prefix returns a key prefix of the test's own, so tests sharing the
// server do not see each other's keys.
func prefix(t testing.TB) string {
	return "levee:rediscache:test:" + t.Name() + ":" + time.Now().Format("150405.000000") + ":" +
		string(rune('a'+prefixSeq.Add(1)%26)) + ":"
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
