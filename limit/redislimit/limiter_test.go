package redislimit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/levee-go/levee/limit"
	"github.com/levee-go/levee/limit/redislimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// client returns a client of the shared throwaway server, closed when the
// test ends.
func client(t testing.TB) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// prefix is a key prefix of the test's own, so tests never share state.
func prefix(t testing.TB) string {
	return "levee:test:" + strings.NewReplacer("/", ":", " ", "_").Replace(t.Name()) + ":" +
		time.Now().Format("150405.000000") + ":"
}

// slowMachine is the timeout of tests that check Redis's answers, not the
// fallback: the 50ms default is short for a race-instrumented test on a
// machine with a load average of 20.
var slowMachine = redislimit.WithTimeout(2 * time.Second)

func closeLimiter(t testing.TB, l *redislimit.Limiter) {
	t.Cleanup(func() { require.NoError(t, l.Close()) })
}

func TestTokenBucketSequence(t *testing.T) {
	rdb := client(t)
	ctx := context.Background()
	p := prefix(t)
	l, err := redislimit.NewTokenBucket(rdb, 10, 5, redislimit.WithPrefix(p), slowMachine)
	require.NoError(t, err)
	closeLimiter(t, l)

	for i := 0; i < 5; i++ {
		r, err := l.Allow(ctx, "k")
		require.NoError(t, err)
		require.True(t, r.Allowed, "call %d", i)
		assert.Equal(t, 5, r.Limit)
		assert.Equal(t, 4-i, r.Remaining, "call %d", i)
		assert.Equal(t, time.Duration(0), r.RetryAfter)
		// The bucket is full again (i+1) tokens later, less the time the
		// calls so far took.
		assert.LessOrEqual(t, r.ResetAfter, time.Duration(i+1)*100*time.Millisecond, "call %d", i)
		assert.Greater(t, r.ResetAfter, time.Duration(i+1)*100*time.Millisecond-50*time.Millisecond, "call %d", i)
		assert.Equal(t, 500*time.Millisecond, r.Window)
	}
	r, err := l.Allow(ctx, "k")
	require.NoError(t, err)
	assert.False(t, r.Allowed)
	assert.Equal(t, 0, r.Remaining)
	assert.Greater(t, r.RetryAfter, 50*time.Millisecond)
	assert.LessOrEqual(t, r.RetryAfter, 100*time.Millisecond)

	// Another key is untouched.
	r, err = l.AllowN(ctx, "other", 5)
	require.NoError(t, err)
	assert.True(t, r.Allowed)
	assert.Equal(t, 0, r.Remaining)

	// After RetryAfter exactly one more token.
	time.Sleep(r.RetryAfter + 100*time.Millisecond)
	r, err = l.Allow(ctx, "k")
	require.NoError(t, err)
	assert.True(t, r.Allowed)

	// The key expires when the bucket would be full again: never without a
	// TTL (-1), and gone (-2) only once the bucket is full.
	pttl, err := rdb.PTTL(ctx, p+"{k}").Result()
	require.NoError(t, err)
	assert.NotEqual(t, time.Duration(-1), pttl)
	assert.LessOrEqual(t, pttl, 500*time.Millisecond)

	st := l.Stats()
	assert.Equal(t, redislimit.ModeRedis, st.Mode)
	assert.Equal(t, int64(7), st.Allowed)
	assert.Equal(t, int64(1), st.Denied)
	// 8 calls, one round trip each, plus one EVAL if the script was not
	// loaded yet (NOSCRIPT).
	assert.GreaterOrEqual(t, st.RoundTrips, int64(8))
	assert.LessOrEqual(t, st.RoundTrips, int64(9))
	assert.Equal(t, int64(0), st.Errors)
}

func TestCost(t *testing.T) {
	rdb := client(t)
	ctx := context.Background()
	for _, mk := range limiters(t, rdb, prefix(t), 4, time.Minute) {
		t.Run(mk.name, func(t *testing.T) {
			l := mk.l
			for _, n := range []int{-1, 5, 1 << 40} {
				r, err := l.AllowN(ctx, "k", n)
				require.Error(t, err, "AllowN(%d)", n)
				assert.True(t, errors.Is(err, limit.ErrInvalidCost), "AllowN(%d): %v", n, err)
				assert.False(t, r.Allowed)
				assert.Equal(t, limit.Forever, r.RetryAfter)
			}
			// n = 0 reports without taking.
			r, err := l.AllowN(ctx, "k", 0)
			require.NoError(t, err)
			assert.True(t, r.Allowed)
			assert.Equal(t, 4, r.Remaining)
			r, err = l.AllowN(ctx, "k", 4)
			require.NoError(t, err)
			assert.True(t, r.Allowed)
			assert.Equal(t, 0, r.Remaining)
			r, err = l.AllowN(ctx, "k", 1)
			require.NoError(t, err)
			assert.False(t, r.Allowed)
			assert.Greater(t, r.RetryAfter, time.Duration(0))
			assert.Equal(t, int64(3), l.Stats().Errors)
		})
	}
}

type namedLimiter struct {
	name string
	l    *redislimit.Limiter
}

// limiters returns one limiter of each kind under prefix p, each allowing
// capacity calls per period (a token bucket of burst capacity refilling over
// the period), closed when the test ends.
func limiters(t testing.TB, rdb redis.UniversalClient, p string, capacity int, per time.Duration, opts ...redislimit.Option) []namedLimiter {
	t.Helper()
	tops := []redislimit.TokenOption{slowMachine}
	wops := []redislimit.WindowOption{slowMachine}
	for _, o := range opts {
		tops = append(tops, o)
		wops = append(wops, o)
	}
	tb, err := redislimit.NewTokenBucket(rdb, float64(capacity)/per.Seconds(), capacity, append(tops, redislimit.WithPrefix(p+"tb:"))...)
	require.NoError(t, err)
	closeLimiter(t, tb)
	fw, err := redislimit.NewFixedWindow(rdb, capacity, per, append(wops, redislimit.WithPrefix(p+"fw:"))...)
	require.NoError(t, err)
	closeLimiter(t, fw)
	sw, err := redislimit.NewSlidingWindow(rdb, capacity, per, append(wops, redislimit.WithPrefix(p+"sw:"))...)
	require.NoError(t, err)
	closeLimiter(t, sw)
	return []namedLimiter{{"token", tb}, {"fixed", fw}, {"sliding", sw}}
}
