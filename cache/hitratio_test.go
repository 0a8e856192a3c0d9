package cache_test

import (
	"container/list"
	"math/rand/v2"
	"testing"

	"github.com/levee-go/levee/cache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lru is a plain LRU, the baseline the policy must beat.
type lru struct {
	cap int
	l   *list.List
	m   map[uint64]*list.Element
}

func (c *lru) access(k uint64) bool {
	if e, ok := c.m[k]; ok {
		c.l.MoveToFront(e)
		return true
	}
	c.m[k] = c.l.PushFront(k)
	if c.l.Len() > c.cap {
		old := c.l.Back()
		c.l.Remove(old)
		delete(c.m, old.Value.(uint64))
	}
	return false
}

func zipfTrace(seed uint64, keys uint64, n int, s float64) []uint64 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	z := rand.NewZipf(r, s, 1, keys-1)
	t := make([]uint64, n)
	for i := range t {
		t[i] = z.Uint64()
	}
	return t
}

// TestHitRatioZipf: on Zipf traces with a capacity of 10% of the key
// space, the cache hits at least as often as an LRU of the same size.
func TestHitRatioZipf(t *testing.T) {
	const keys = 100_000
	n := 400_000
	cases := []struct {
		seed uint64
		s    float64
	}{{1, 1.01}, {2, 1.1}, {3, 1.3}}
	if raceEnabled {
		n, cases = 100_000, cases[:1]
	}
	for _, tc := range cases {
		trace := zipfTrace(tc.seed, keys, n, tc.s)
		c, err := cache.New[uint64, uint64](keys / 10)
		require.NoError(t, err)
		l := &lru{cap: keys / 10, l: list.New(), m: map[uint64]*list.Element{}}
		var hits, lhits int
		for _, k := range trace {
			if _, ok := c.Get(k); ok {
				hits++
			} else {
				c.Set(k, k)
			}
			if l.access(k) {
				lhits++
			}
		}
		ratio, lratio := float64(hits)/float64(n), float64(lhits)/float64(n)
		t.Logf("seed %d s %.2f: levee %.4f lru %.4f", tc.seed, tc.s, ratio, lratio)
		assert.GreaterOrEqual(t, ratio, lratio, "seed %d s %.2f", tc.seed, tc.s)
		st := c.Stats()
		assert.LessOrEqual(t, st.Entries, int64(keys/10))
		c.Close()
	}
}
