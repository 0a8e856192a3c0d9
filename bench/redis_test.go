package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// redisAddr is the address of the throwaway server `make test` starts
// (scripts/with-redis.sh). Without one the test skips loudly, except under
// CI=true, where a missing server is a failure.
func redisAddr(t *testing.T) string {
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

// TestRedisHarness checks the throwaway server `make test` starts: it answers,
// stores and expires keys, and is private (an empty database of our own).
func TestRedisHarness(t *testing.T) {
	addr := redisAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()

	require.NoError(t, rdb.Ping(ctx).Err(), "PING %s", addr)

	key := "levee:harness:" + t.Name()
	require.NoError(t, rdb.Set(ctx, key, "42", time.Minute).Err())
	got, err := rdb.Get(ctx, key).Result()
	require.NoError(t, err)
	assert.Equal(t, "42", got)

	ttl, err := rdb.TTL(ctx, key).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 50*time.Second)
	assert.LessOrEqual(t, ttl, time.Minute)

	n, err := rdb.Del(ctx, key).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	// Nothing is persisted: the server runs with --save '' --appendonly no.
	cfg, err := rdb.ConfigGet(ctx, "appendonly").Result()
	require.NoError(t, err)
	assert.Equal(t, "no", cfg["appendonly"])
}
