package rediscache_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/levee-go/levee/cache/rediscache"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// New refuses every option out of range with an error naming it, and
// needs no server to do so.
func TestNewValidates(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	for _, tc := range []struct {
		name string
		opts []rediscache.Option
		want string
	}{
		{"nil option", []rediscache.Option{nil}, "nil Option"},
		{"zero TTL", []rediscache.Option{rediscache.WithTTL(0)}, "TTL must be between 1ms and"},
		{"negative TTL", []rediscache.Option{rediscache.WithTTL(-time.Second)}, "TTL must be between 1ms and"},
		{"sub-millisecond TTL", []rediscache.Option{rediscache.WithTTL(time.Microsecond)}, "got 1µs"},
		{"huge TTL", []rediscache.Option{rediscache.WithTTL(math.MaxInt64)}, "TTL must be between"},
		{"negative not-found TTL", []rediscache.Option{rediscache.WithNotFoundTTL(-1)}, "not-found TTL must be 0 or between"},
		{"NaN jitter", []rediscache.Option{rediscache.WithJitter(math.NaN())}, "jitter must be between 0 and 0.5, got NaN"},
		{"negative jitter", []rediscache.Option{rediscache.WithJitter(-0.1)}, "jitter must be between 0 and 0.5"},
		{"jitter above max", []rediscache.Option{rediscache.WithJitter(0.6)}, "got 0.6"},
		{"negative stale", []rediscache.Option{rediscache.WithStale(-time.Second)}, "stale window must be 0 or between"},
		{"long prefix", []rediscache.Option{rediscache.WithPrefix(strings.Repeat("p", rediscache.MaxPrefix+1))}, "prefix must be at most 1024 bytes, got 1025"},
		{"unknown policy", []rediscache.Option{rediscache.WithRedisErrorPolicy(7)}, "unknown Redis error policy RedisErrorPolicy(7)"},
		{"zero local capacity", []rediscache.Option{rediscache.WithLocal(0, time.Second)}, "local capacity must be between 1 and"},
		{"huge local capacity", []rediscache.Option{rediscache.WithLocal(math.MaxInt, time.Second)}, "local capacity must be between 1 and"},
		{"zero local TTL", []rediscache.Option{rediscache.WithLocal(10, 0)}, "local TTL must be between"},
		{"zero lease TTL", []rediscache.Option{rediscache.WithLease(0, time.Second)}, "lease TTL must be between"},
		{"huge lease wait", []rediscache.Option{rediscache.WithLease(time.Second, math.MaxInt64)}, "lease wait must be between"},
		{"nil codec", []rediscache.Option{rediscache.WithCodec[string](nil)}, "nil Codec"},
		{"codec of another type", []rediscache.Option{rediscache.WithCodec[int](rediscache.JSON[int]{})}, "does not encode the cache's value type"},
		{"nil clock", []rediscache.Option{rediscache.WithClock(nil)}, "nil Clock"},
		{"nil rand", []rediscache.Option{rediscache.WithRand(nil)}, "nil rand function"},
		{"nil hook", []rediscache.Option{rediscache.WithEventHook(nil)}, "nil event hook"},
		{"nil logger", []rediscache.Option{rediscache.WithLogger(nil)}, "nil logger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rediscache.New[string](rdb, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "rediscache: "), err.Error())
		})
	}

	_, err := rediscache.New[string](nil)
	assert.EqualError(t, err, "rediscache: nil Redis client")

	// Every bad option is named, not only the first.
	_, err = rediscache.New[string](rdb, rediscache.WithTTL(0), rediscache.WithJitter(2))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TTL must be")
	assert.Contains(t, err.Error(), "jitter must be")

	// Bounds are inclusive, and the last option of a kind wins.
	c, err := rediscache.New[string](rdb, rediscache.WithTTL(rediscache.MinTTL), rediscache.WithTTL(rediscache.MaxTTL),
		rediscache.WithJitter(rediscache.MaxJitter), rediscache.WithNotFoundTTL(0), rediscache.WithStale(0),
		rediscache.WithLocal(rediscache.MaxLocalCapacity, rediscache.MinTTL), rediscache.WithLease(rediscache.MinTTL, rediscache.MaxTTL),
		rediscache.WithCodec[string](rediscache.JSON[string]{}), rediscache.WithPrefix(strings.Repeat("p", rediscache.MaxPrefix)))
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

// Bad arguments to the methods are errors, before any round trip.
func TestBadArguments(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	c, err := rediscache.New[string](rdb)
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()

	_, err = c.Take(ctx, "k", nil)
	assert.EqualError(t, err, "rediscache: nil Loader")
	_, err = c.TakeMany(ctx, []string{"k"}, nil)
	assert.EqualError(t, err, "rediscache: nil TakeMany loader")
	_, err = c.TakeMany(ctx, make([]string, rediscache.MaxTakeMany+1), func(context.Context, []string) (map[string]string, error) { return nil, nil })
	assert.EqualError(t, err, "rediscache: TakeMany takes at most 65536 keys, got 65537")
	for _, ttl := range []time.Duration{0, -1, time.Microsecond, rediscache.MaxTTL + 1} {
		err = c.SetWithTTL(ctx, "k", "v", ttl)
		assert.ErrorContains(t, err, "rediscache: TTL must be between 1ms and", "SetWithTTL(%v)", ttl)
	}
	assert.NoError(t, c.Delete(ctx))
	m, err := c.TakeMany(ctx, nil, func(context.Context, []string) (map[string]string, error) { return nil, nil })
	assert.NoError(t, err)
	assert.Empty(t, m)
}

func TestStrings(t *testing.T) {
	assert.Equal(t, "FailFast", rediscache.FailFast.String())
	assert.Equal(t, "LoadOnError", rediscache.LoadOnError.String())
	assert.Equal(t, "RedisErrorPolicy(9)", rediscache.RedisErrorPolicy(9).String())
	for k, want := range map[rediscache.EventKind]string{
		rediscache.EventRedisDown: "RedisDown", rediscache.EventRedisUp: "RedisUp",
		rediscache.EventCorrupt: "Corrupt", rediscache.EventLeaseTimeout: "LeaseTimeout", 0: "EventKind(0)",
	} {
		assert.Equal(t, want, k.String())
	}
}
