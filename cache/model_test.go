package cache_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/levee-go/levee/cache"
	"github.com/stretchr/testify/require"
)

// TestAgainstModel runs random operations on small caches and checks each
// answer against a map of what was last written: a Get returns the last
// value Set for its key or nothing (evicted), never an older value or a
// deleted one, and the cache never holds more than its capacity.
func TestAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			capacity := 1 + r.IntN(64)
			keys := capacity + r.IntN(3*capacity)
			c := newCache[int, int](t, capacity)
			model := map[int]int{}
			evicted := int64(0)
			for step := 0; step < 20_000; step++ {
				k := r.IntN(keys)
				switch op := r.IntN(10); {
				case op < 4:
					c.Set(k, step)
					model[k] = step
				case op < 9:
					v, ok := c.Get(k)
					want, has := model[k]
					if ok {
						require.True(t, has, "step %d: Get(%d) = %d after a Delete", step, k, v)
						require.Equal(t, want, v, "step %d: Get(%d)", step, k)
					}
				case op == 9 && r.IntN(50) == 0:
					c.Clear()
					clear(model)
				default:
					c.Delete(k)
					delete(model, k)
				}
				if step%1000 == 0 {
					st := c.Stats()
					require.LessOrEqual(t, st.Entries, int64(capacity), "step %d", step)
					require.Equal(t, st.Entries, st.Weight, "step %d", step)
					require.GreaterOrEqual(t, st.Evictions, evicted)
					evicted = st.Evictions
				}
			}
		})
	}
}

func FuzzOptions(f *testing.F) {
	f.Add(10, int64(1e9), int64(0), 0.05, int64(0), int64(0), 0)
	f.Add(0, int64(-1), int64(-1), -1.0, int64(-1), int64(-1), 3)
	f.Fuzz(func(t *testing.T, capacity int, ttl, nf int64, jitter float64, grace, refresh int64, shards int) {
		opts := []cache.Option{}
		if ttl != 0 {
			opts = append(opts, cache.WithTTL(durationOf(ttl)))
		}
		opts = append(opts, cache.WithNotFoundTTL(durationOf(nf)), cache.WithJitter(jitter), cache.WithStaleGrace(durationOf(grace)))
		if refresh != 0 {
			opts = append(opts, cache.WithRefreshAfter(durationOf(refresh)))
		}
		if shards != 0 {
			opts = append(opts, cache.WithShards(shards))
		}
		if capacity > 1<<16 {
			capacity = 1 << 16 // keep the fuzzer's allocations small
		}
		c, err := cache.New[string, int](capacity, opts...)
		if err != nil {
			require.Nil(t, c)
			return
		}
		defer c.Close()
		c.Set("a", 1)
		v, ok := c.Get("a")
		if ok {
			require.Equal(t, 1, v)
		}
	})
}

func durationOf(n int64) time.Duration { return time.Duration(n) }
