package rediscache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/levee-go/levee/cache/rediscache"
	"github.com/levee-go/levee/syncx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The load belongs to no single caller: the first caller leaving does not
// cancel it for the others; the last one leaving does.
func TestLoadDetached(t *testing.T) {
	rdb := newClient(t)
	c, err := rediscache.New[user](rdb, rediscache.WithPrefix(prefix(t)))
	require.NoError(t, err)
	defer c.Close()

	var calls atomic.Int64
	var loadErr atomic.Value
	release := make(chan struct{})
	load := func(ctx context.Context, key string) (user, error) {
		calls.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			loadErr.Store(ctx.Err())
			return user{}, ctx.Err()
		}
		return user{ID: key}, nil
	}

	// The first caller gives up once the second has joined its load.
	first, cancelFirst := context.WithCancel(context.Background())
	defer cancelFirst()
	var wg sync.WaitGroup
	var firstErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, firstErr = c.Take(first, "k", load)
	}()
	waitFor(t, func() bool { return calls.Load() == 1 })
	var second user
	var secondErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		second, secondErr = c.Take(ctxT(t, 5*time.Second), "k", load)
	}()
	waitFor(t, func() bool { return c.Stats().Misses == 2 }) // the second missed, and joins
	time.Sleep(50 * time.Millisecond)
	cancelFirst()
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	assert.ErrorIs(t, firstErr, context.Canceled)
	require.NoError(t, secondErr)
	assert.Equal(t, "k", second.ID)
	assert.Equal(t, int64(1), calls.Load())
	assert.Nil(t, loadErr.Load(), "the load's context was cancelled")

	// Every caller leaves: the load's context is cancelled.
	gone, cancelAll := context.WithCancel(context.Background())
	done := make(chan error)
	blocked := func(ctx context.Context, key string) (user, error) {
		<-ctx.Done()
		loadErr.Store(ctx.Err())
		return user{}, ctx.Err()
	}
	go func() {
		_, err := c.Take(gone, "other", blocked)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancelAll()
	assert.ErrorIs(t, <-done, context.Canceled)
	waitFor(t, func() bool { return loadErr.Load() != nil })
	assert.Equal(t, context.Canceled, loadErr.Load())
	assert.Equal(t, int64(0), c.Stats().RedisErrors, "a caller leaving is not a Redis failure")
}

// A panic in the loader reaches every caller sharing the load as a
// *syncx.PanicError, and nothing is cached.
func TestLoaderPanics(t *testing.T) {
	rdb := newClient(t)
	p := prefix(t)
	c, err := rediscache.New[user](rdb, rediscache.WithPrefix(p))
	require.NoError(t, err)
	defer c.Close()
	ctx := ctxT(t, 5*time.Second)

	take := func() (r any) {
		defer func() { r = recover() }()
		_, _ = c.Take(ctx, "k", func(context.Context, string) (user, error) { panic("boom") })
		return nil
	}
	r := take()
	var perr *syncx.PanicError
	require.True(t, errors.As(r.(error), &perr), "recovered %T %v", r, r)
	assert.Equal(t, "boom", perr.Value)
	n, err := rdb.Exists(ctx, p+"k").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(0), n)
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "condition not met in 5s")
		time.Sleep(2 * time.Millisecond)
	}
}
