package redislimit_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/levee-go/levee/limit/redislimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsValidation(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	for _, tc := range []struct {
		name string
		opt  redislimit.Option
		want string
	}{
		{"prefix braces", redislimit.WithPrefix("a{b"), `redislimit: prefix must be at most 256 bytes without '{' or '}', got "a{b"`},
		{"prefix long", redislimit.WithPrefix(string(make([]byte, 300))), "redislimit: prefix must be at most 256 bytes"},
		{"timeout 0", redislimit.WithTimeout(0), "redislimit: timeout must be between 1ms and 1m0s, got 0s"},
		{"timeout huge", redislimit.WithTimeout(time.Hour), "redislimit: timeout must be between 1ms and 1m0s, got 1h0m0s"},
		{"probe", redislimit.WithProbeInterval(time.Millisecond), "redislimit: probe interval must be between 10ms and 1h0m0s, got 1ms"},
		{"fallback", redislimit.WithFallback(7), "redislimit: unknown fallback Fallback(7)"},
		{"instances", redislimit.WithInstances(0), "redislimit: instances must be between 1 and 100000, got 0"},
		{"max keys", redislimit.WithMaxKeys(-1), "redislimit: max keys must be between 1 and 16777216, got -1"},
		{"clock", redislimit.WithClock(nil), "redislimit: nil clock"},
		{"hook", redislimit.WithEventHook(nil), "redislimit: nil event hook"},
		{"logger", redislimit.WithLogger((*slog.Logger)(nil)), "redislimit: nil logger"},
		{"nil", nil, "redislimit: nil option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := redislimit.NewTokenBucket(rdb, 1, 1, tc.opt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, err = redislimit.NewSlidingWindow(rdb, 1, time.Second, tc.opt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	for _, tc := range []struct {
		name string
		new  func() (*redislimit.Limiter, error)
		want string
	}{
		{"rate 0", func() (*redislimit.Limiter, error) { return redislimit.NewTokenBucket(rdb, 0, 1) }, "redislimit: rate must be in (0, 1e+06] per second, got 0"},
		{"rate NaN", func() (*redislimit.Limiter, error) { return redislimit.NewTokenBucket(rdb, nan(), 1) }, "got NaN"},
		{"rate huge", func() (*redislimit.Limiter, error) { return redislimit.NewTokenBucket(rdb, 1e7, 1) }, "got 1e+07"},
		{"burst 0", func() (*redislimit.Limiter, error) { return redislimit.NewTokenBucket(rdb, 1, 0) }, "redislimit: burst must be between 1 and 1073741824, got 0"},
		{"refill", func() (*redislimit.Limiter, error) { return redislimit.NewTokenBucket(rdb, 1e-6, 1000) }, "burst/rate"},
		{"lease 1", func() (*redislimit.Limiter, error) {
			return redislimit.NewTokenBucket(rdb, 1, 1, redislimit.WithLease(1))
		}, "redislimit: lease batch must be between 2 and 65536, got 1"},
		{"nil client", func() (*redislimit.Limiter, error) { return redislimit.NewTokenBucket(nil, 1, 1) }, "redislimit: nil redis client"},
		{"limit 0", func() (*redislimit.Limiter, error) { return redislimit.NewFixedWindow(rdb, 0, time.Second) }, "redislimit: limit must be between 1 and 1073741824, got 0"},
		{"window short", func() (*redislimit.Limiter, error) { return redislimit.NewFixedWindow(rdb, 1, time.Microsecond) }, "window must be a whole number of microseconds between 1ms"},
		{"window fraction", func() (*redislimit.Limiter, error) {
			return redislimit.NewSlidingWindow(rdb, 1, time.Second+time.Nanosecond)
		}, "got 1.000000001s"},
		{"window long", func() (*redislimit.Limiter, error) { return redislimit.NewSlidingWindow(rdb, 1, 1<<62) }, "window must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tc.new()
			require.Error(t, err)
			assert.Nil(t, l)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// Every error at once, and the last option of a kind wins.
	_, err := redislimit.NewTokenBucket(rdb, 0, 0, redislimit.WithTimeout(0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rate")
	assert.Contains(t, err.Error(), "burst")
	assert.Contains(t, err.Error(), "timeout")
	l, err := redislimit.NewTokenBucket(rdb, 1, 1, redislimit.WithTimeout(0), redislimit.WithTimeout(time.Second))
	require.Error(t, err, "an invalid option is an error even when a later one is valid")
	assert.Nil(t, l)
	l, err = redislimit.NewTokenBucket(rdb, 1, 1, redislimit.WithInstances(3), redislimit.WithInstances(2))
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func nan() float64 { var z float64; return z / z }
