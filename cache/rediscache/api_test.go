package rediscache_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/levee-go/levee/cache/rediscache"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Set, Get and Delete against Redis; failures are returned to the caller.
func TestSetGetDelete(t *testing.T) {
	rdb := newClient(t)
	p := prefix(t)
	c, err := rediscache.New[user](rdb, rediscache.WithPrefix(p), rediscache.WithTTL(time.Minute))
	require.NoError(t, err)
	defer c.Close()
	ctx := ctxT(t, 5*time.Second)

	_, err = c.Get(ctx, "a")
	assert.ErrorIs(t, err, rediscache.ErrMiss)
	require.NoError(t, c.Set(ctx, "a", user{ID: "a"}))
	require.NoError(t, c.Set(ctx, "b", user{ID: "b"}))
	v, err := c.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "a", v.ID)
	pttl, err := rdb.PTTL(ctx, p+"a").Result()
	require.NoError(t, err)
	assert.InDelta(t, float64(time.Minute), float64(pttl), float64(3*time.Second+100*time.Millisecond))

	require.NoError(t, c.Delete(ctx, "a", "b", "never-there"))
	n, err := rdb.Exists(ctx, p+"a", p+"b").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(0), n)

	// A key of the wrong type is an error from a live server.
	require.NoError(t, rdb.LPush(ctx, p+"list", "x").Err())
	_, err = c.Get(ctx, "list")
	assert.ErrorIs(t, err, rediscache.ErrUnavailable)
	assert.ErrorContains(t, err, "WRONGTYPE")
}

// With Redis unreachable, Set and Delete return the failure (go-zero's
// Del returns nil), Get and Take fail fast, and the hook and the logger are
// told once.
func TestUnreachable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialerRetryTimeout: time.Millisecond, DialTimeout: 100 * time.Millisecond,
		PoolSize: 100}) // fewer dial errors than PoolSize: go-redis starts no background redialler
	defer rdb.Close()
	var logs bytes.Buffer
	var downs, ups atomic.Int64
	c, err := rediscache.New[user](rdb, rediscache.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		rediscache.WithEventHook(func(e rediscache.Event) {
			switch e.Kind {
			case rediscache.EventRedisDown:
				downs.Add(1)
			case rediscache.EventRedisUp:
				ups.Add(1)
			}
		}))
	require.NoError(t, err)
	defer c.Close()
	ctx := ctxT(t, 5*time.Second)

	assert.ErrorIs(t, c.Set(ctx, "k", user{}), rediscache.ErrUnavailable)
	assert.ErrorIs(t, c.Delete(ctx, "k"), rediscache.ErrUnavailable)
	assert.ErrorIs(t, c.Delete(ctx, "k", "l"), rediscache.ErrUnavailable)
	loader := &countingLoader{}
	for i := 0; i < 20; i++ {
		_, err = c.Take(ctx, "k", loader.load)
		assert.ErrorIs(t, err, rediscache.ErrUnavailable)
		_, err = c.Get(ctx, "k")
		assert.ErrorIs(t, err, rediscache.ErrUnavailable)
	}
	_, err = c.TakeMany(ctx, []string{"k"}, func(context.Context, []string) (map[string]user, error) { return nil, nil })
	assert.ErrorIs(t, err, rediscache.ErrUnavailable)
	assert.Equal(t, int64(0), loader.calls.Load(), "FailFast keeps the loader out")
	st := c.Stats()
	assert.True(t, st.RedisDown)
	assert.Equal(t, int64(1), downs.Load())
	assert.Equal(t, int64(0), ups.Load())
	assert.Equal(t, 1, strings.Count(logs.String(), "redis unavailable"), logs.String())

	// A cancelled caller is not a Redis failure.
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Take(cctx, "k", loader.load)
	assert.ErrorIs(t, err, context.Canceled)
}

// TakeMany: one round trip to look, one load for the missing keys,
// placeholders for keys the loader leaves out, duplicates asked once.
func TestTakeMany(t *testing.T) {
	rdb := newClient(t)
	p := prefix(t)
	var logs bytes.Buffer
	c, err := rediscache.New[user](rdb, rediscache.WithPrefix(p), rediscache.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	defer c.Close()
	ctx := ctxT(t, 5*time.Second)
	require.NoError(t, c.Set(ctx, "a", user{ID: "a"}))
	require.NoError(t, rdb.Set(ctx, p+"bad", "garbage", time.Minute).Err())

	var asked [][]string
	load := func(_ context.Context, missing []string) (map[string]user, error) {
		asked = append(asked, append([]string(nil), missing...))
		m := map[string]user{}
		for _, k := range missing {
			if k != "none" {
				m[k] = user{ID: k}
			}
		}
		return m, nil
	}
	require.NoError(t, rdb.Set(ctx, p+"bad2", "garbage", time.Minute).Err())
	got, err := c.TakeMany(ctx, []string{"a", "b", "b", "none", "bad", "a", "bad2"}, load)
	require.NoError(t, err)
	assert.Equal(t, map[string]user{"a": {ID: "a"}, "b": {ID: "b"}, "bad": {ID: "bad"}, "bad2": {ID: "bad2"}}, got)
	assert.Equal(t, [][]string{{"b", "none", "bad", "bad2"}}, asked)
	assert.Equal(t, int64(2), c.Stats().Corrupt)
	assert.Equal(t, 1, strings.Count(logs.String(), "corrupt value deleted"), "corrupt values logged at most once a second: %s", logs.String())

	got, err = c.TakeMany(ctx, []string{"a", "b", "none", "bad"}, load)
	require.NoError(t, err)
	assert.Len(t, got, 3)
	assert.Len(t, asked, 1, "everything cached, the absence of none included")
	_, err = c.Take(ctx, "none", (&countingLoader{}).load)
	assert.ErrorIs(t, err, rediscache.ErrNotFound)

	// The loader's error is returned.
	boom := errors.New("boom")
	_, err = c.TakeMany(ctx, []string{"c"}, func(context.Context, []string) (map[string]user, error) { return nil, boom })
	assert.ErrorIs(t, err, boom)
}

// upperCodec is a codec of a user's own: a string stored upper-cased.
type upperCodec struct{ decodes *atomic.Int64 }

func (upperCodec) Append(dst []byte, v string) ([]byte, error) {
	return append(dst, strings.ToUpper(v)...), nil
}

func (c upperCodec) Decode(data []byte) (string, error) {
	c.decodes.Add(1)
	if bytes.ContainsRune(data, '!') {
		return "", errors.New("no exclamations")
	}
	return string(data), nil
}

// A codec of one's own is used both ways; a hit decodes once.
func TestCodec(t *testing.T) {
	rdb := newClient(t)
	p := prefix(t)
	var decodes atomic.Int64
	c, err := rediscache.New[string](rdb, rediscache.WithPrefix(p), rediscache.WithCodec[string](upperCodec{&decodes}))
	require.NoError(t, err)
	defer c.Close()
	ctx := ctxT(t, 5*time.Second)
	load := func(_ context.Context, key string) (string, error) { return "value of " + key, nil }

	v, err := c.Take(ctx, "k", load)
	require.NoError(t, err)
	assert.Equal(t, "value of k", v, "the loaded value, not a decoded copy")
	assert.Equal(t, int64(0), decodes.Load())
	raw, err := rdb.Get(ctx, p+"k").Result()
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(raw, "VALUE OF K"), "%q", raw)
	v, err = c.Take(ctx, "k", load)
	require.NoError(t, err)
	assert.Equal(t, "VALUE OF K", v)
	assert.Equal(t, int64(1), decodes.Load())

	// A value the codec refuses is deleted and loaded again.
	require.NoError(t, c.Set(ctx, "bang", "bang!"))
	v, err = c.Take(ctx, "bang", load)
	require.NoError(t, err)
	assert.Equal(t, "value of bang", v)
	assert.Equal(t, int64(1), c.Stats().Corrupt)
}
