package rediscache_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/levee-go/levee/cache/rediscache"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type user struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// countingLoader counts its calls and answers after delay.
type countingLoader struct {
	calls atomic.Int64
	delay time.Duration
	fail  error // returned instead of a value when set
}

func (l *countingLoader) load(ctx context.Context, key string) (user, error) {
	l.calls.Add(1)
	if l.delay > 0 {
		select {
		case <-time.After(l.delay):
		case <-ctx.Done():
			return user{}, ctx.Err()
		}
	}
	if l.fail != nil {
		return user{}, l.fail
	}
	return user{ID: key, Name: "name of " + key}, nil
}

// instances returns n caches over n clients of the shared server, as n
// instances of a service would have.
func instances(t *testing.T, n int, opts ...rediscache.Option) []*rediscache.Cache[user] {
	t.Helper()
	out := make([]*rediscache.Cache[user], n)
	for i := range out {
		c, err := rediscache.New[user](newClient(t), opts...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		out[i] = c
	}
	return out
}

// together runs f(i) on n goroutines released at the same moment and
// waits for all of them.
func together(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			f(i)
		}(i)
	}
	close(start)
	wg.Wait()
}

// Test 1, penetration: a key that does not exist reaches the data source
// once per instance (once in the fleet with the lease), then not at all
// while its placeholder lives.
func TestPenetration(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       []rediscache.Option
		maxLoads   int64
		background bool // callers pass context.Background: loads run on a caller's goroutine
	}{
		{"no lease", nil, 4, false},
		{"no lease, background", nil, 4, true},
		{"lease", []rediscache.Option{rediscache.WithLease(5*time.Second, 5*time.Second)}, 1, false},
		{"lease, background", []rediscache.Option{rediscache.WithLease(5*time.Second, 5*time.Second)}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]rediscache.Option{rediscache.WithPrefix(prefix(t)), rediscache.WithNotFoundTTL(30 * time.Second)}, tc.opts...)
			caches := instances(t, 4, opts...)
			loader := &countingLoader{delay: 50 * time.Millisecond, fail: rediscache.ErrNotFound}
			ctx := ctxT(t, 20*time.Second)
			if tc.background {
				ctx = context.Background()
			}

			var notFound, other atomic.Int64
			take := func(i int) {
				_, err := caches[i%4].Take(ctx, "missing", loader.load)
				if errors.Is(err, rediscache.ErrNotFound) {
					notFound.Add(1)
				} else {
					other.Add(1)
				}
			}
			together(1000, take)
			first := loader.calls.Load()
			assert.GreaterOrEqual(t, first, int64(1))
			assert.LessOrEqual(t, first, tc.maxLoads, "loader calls for 1,000 concurrent Takes on 4 instances")
			assert.Equal(t, int64(1000), notFound.Load())
			assert.Equal(t, int64(0), other.Load())

			together(1000, take) // within the not-found TTL
			assert.Equal(t, first, loader.calls.Load(), "loader calls while the placeholder lives")
			assert.Equal(t, int64(2000), notFound.Load())
			t.Logf("loader calls: %d for the first 1,000 Takes, %d more for the next 1,000", first, loader.calls.Load()-first)

			var st rediscache.Stats
			for _, c := range caches {
				s := c.Stats()
				st.NotFoundHits += s.NotFoundHits
				st.Loads += s.Loads
			}
			assert.Equal(t, first, st.Loads)
			assert.GreaterOrEqual(t, st.NotFoundHits, int64(1000))
		})
	}
}

// Test 2, breakdown: a hot key expires under 1,000 readers on 4 instances;
// with the lease, the loader runs once in the fleet.
func TestBreakdown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []rediscache.Option
		maxLoads int64
	}{
		{"no lease", nil, 4},
		{"lease", []rediscache.Option{rediscache.WithLease(5*time.Second, 5*time.Second)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]rediscache.Option{rediscache.WithPrefix(prefix(t)), rediscache.WithTTL(time.Minute)}, tc.opts...)
			caches := instances(t, 4, opts...)
			ctx := ctxT(t, 20*time.Second)
			old := user{ID: "hot", Name: "old"}
			const expiry = 300 * time.Millisecond
			require.NoError(t, caches[0].SetWithTTL(ctx, "hot", old, expiry))
			begun := time.Now()

			loader := &countingLoader{delay: 30 * time.Millisecond}
			var reads, olds, news, errs atomic.Int64
			together(1000, func(i int) {
				// Read until well after the key expired and was reloaded.
				for time.Since(begun) < expiry+400*time.Millisecond {
					v, err := caches[i%4].Take(ctx, "hot", loader.load)
					reads.Add(1)
					switch {
					case err != nil:
						errs.Add(1)
					case v == old:
						olds.Add(1)
					case v.Name == "name of hot":
						news.Add(1)
					}
					time.Sleep(time.Millisecond)
				}
			})
			t.Logf("reads %d (old %d, new %d, errors %d), loader calls %d", reads.Load(), olds.Load(), news.Load(), errs.Load(), loader.calls.Load())
			assert.Equal(t, int64(0), errs.Load())
			assert.Equal(t, reads.Load(), olds.Load()+news.Load())
			assert.Greater(t, olds.Load(), int64(0))
			assert.Greater(t, news.Load(), int64(0))
			assert.GreaterOrEqual(t, loader.calls.Load(), int64(1))
			assert.LessOrEqual(t, loader.calls.Load(), tc.maxLoads)
		})
	}
}

// Test 3, avalanche: 10,000 keys written in one burst get Redis TTLs spread
// over ±5% of the TTL, uniformly.
func TestAvalanche(t *testing.T) {
	rdb := newClient(t)
	p := prefix(t)
	const ttl = time.Hour // long, so the seconds the test takes hardly count
	c, err := rediscache.New[int](rdb, rediscache.WithPrefix(p), rediscache.WithTTL(ttl))
	require.NoError(t, err)
	defer c.Close()
	ctx := ctxT(t, 20*time.Second)

	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = fmt.Sprint(i)
	}
	got, err := c.TakeMany(ctx, keys, func(_ context.Context, missing []string) (map[string]int, error) {
		m := make(map[string]int, len(missing))
		for _, k := range missing {
			m[k] = len(k)
		}
		return m, nil
	})
	require.NoError(t, err)
	require.Len(t, got, len(keys))

	cmds := make([]*redis.DurationCmd, len(keys))
	_, err = rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = pl.PTTL(ctx, p+k)
		}
		return nil
	})
	require.NoError(t, err)
	lo, hi, sum, sq := math.Inf(1), math.Inf(-1), 0.0, 0.0
	for i, cmd := range cmds {
		d := cmd.Val()
		require.Greater(t, d, time.Duration(0), "key %s has no TTL", keys[i])
		r := float64(d)/float64(ttl) - 1 // relative deviation
		lo, hi = math.Min(lo, r), math.Max(hi, r)
		sum += r
		sq += r * r
	}
	n := float64(len(cmds))
	mean := sum / n
	sd := math.Sqrt(sq/n - mean*mean)
	t.Logf("TTL spread over 10,000 keys: %+.2f%% .. %+.2f%% of %v, mean %+.3f%%, sd %.3f%% (uniform ±5%%: sd 2.887%%)", 100*lo, 100*hi, ttl, 100*mean, 100*sd)
	assert.LessOrEqual(t, lo, -0.04)
	assert.GreaterOrEqual(t, hi, 0.04)
	assert.GreaterOrEqual(t, lo, -0.0505) // slack for the seconds the test took
	assert.LessOrEqual(t, hi, 0.05)
	assert.InDelta(t, 0, mean, 0.003)
	assert.InDelta(t, 0.05/math.Sqrt(3), sd, 0.002)
}

// Test 4, corrupt value: a value that does not decode is deleted, loaded
// again, counted and reported.
func TestCorruptValue(t *testing.T) {
	rdb := newClient(t)
	for _, tc := range []struct {
		name string
		raw  string
	}{
		{"garbage", "garbage"},
		{"bad payload", "\x01\x7f\xff\xff\xff\xff\xff\xff\xff{not json"},
		{"short header", "\x01\x00\x01"},
		{"wrong type", "\x01\x7f\xff\xff\xff\xff\xff\xff\xff[1,2,3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := prefix(t)
			var events []rediscache.Event
			var mu sync.Mutex
			c, err := rediscache.New[user](rdb, rediscache.WithPrefix(p), rediscache.WithEventHook(func(e rediscache.Event) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}))
			require.NoError(t, err)
			defer c.Close()
			ctx := ctxT(t, 5*time.Second)
			require.NoError(t, rdb.Set(ctx, p+"k", tc.raw, time.Minute).Err())

			loader := &countingLoader{}
			v, err := c.Take(ctx, "k", loader.load)
			require.NoError(t, err)
			assert.Equal(t, user{ID: "k", Name: "name of k"}, v)
			assert.Equal(t, int64(1), loader.calls.Load())
			st := c.Stats()
			assert.Equal(t, int64(1), st.Corrupt)
			assert.Equal(t, int64(1), st.Loads)
			mu.Lock()
			require.Len(t, events, 1)
			assert.Equal(t, rediscache.EventCorrupt, events[0].Kind)
			assert.Equal(t, "k", events[0].Key)
			assert.Error(t, events[0].Err)
			mu.Unlock()

			// The reloaded value replaced the garbage: the next Take is a hit.
			v, err = c.Take(ctx, "k", loader.load)
			require.NoError(t, err)
			assert.Equal(t, "k", v.ID)
			assert.Equal(t, int64(1), loader.calls.Load())
			assert.Equal(t, int64(1), c.Stats().Hits)
			raw, err := rdb.Get(ctx, p+"k").Result()
			require.NoError(t, err)
			assert.NotEqual(t, tc.raw, raw)
		})
	}
}
