package cache

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	theine "github.com/Yiling-J/theine-go"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/maypok86/otter/v2"
	"github.com/viccon/sturdyc"
	"github.com/zeromicro/go-zero/core/collection"

	"github.com/levee-go/levee/cache"
)

const ttl = time.Hour

// store is what the benchmarks need of a cache. Every implementation pays
// the same interface call.
type store interface {
	Get(key string) (int, bool)
	Set(key string, v int)
	// Settle waits for writes a cache buffers (ristretto, theine) to land.
	Settle()
	Close()
}

type impl struct {
	name string
	new  func(tb testing.TB, capacity int) store
}

var impls = []impl{
	{"levee", newLevee},
	{"otter", newOtter},
	{"ristretto", newRistretto},
	{"golang-lru", newGolangLRU},
	{"theine", newTheine},
	{"sturdyc", newSturdyc},
	{"gozero", newGoZero},
}

type leveeStore struct{ c *cache.Cache[string, int] }

func newLevee(tb testing.TB, capacity int) store {
	c, err := cache.New[string, int](capacity, cache.WithTTL(ttl))
	if err != nil {
		tb.Fatal(err)
	}
	return leveeStore{c}
}
func (s leveeStore) Get(k string) (int, bool) { return s.c.Get(k) }
func (s leveeStore) Set(k string, v int)      { s.c.Set(k, v) }
func (s leveeStore) Settle()                  {}
func (s leveeStore) Close()                   { s.c.Close() }

type otterStore struct{ c *otter.Cache[string, int] }

func newOtter(tb testing.TB, capacity int) store {
	return otterStore{otter.Must(&otter.Options[string, int]{
		MaximumSize:      capacity,
		ExpiryCalculator: otter.ExpiryWriting[string, int](ttl),
	})}
}
func (s otterStore) Get(k string) (int, bool) { return s.c.GetIfPresent(k) }
func (s otterStore) Set(k string, v int)      { s.c.Set(k, v) }
func (s otterStore) Settle()                  {}
func (s otterStore) Close()                   { s.c.StopAllGoroutines() }

type ristrettoStore struct{ c *ristretto.Cache[string, int] }

func newRistretto(tb testing.TB, capacity int) store {
	c, err := ristretto.NewCache(&ristretto.Config[string, int]{
		NumCounters:        int64(capacity) * 10,
		MaxCost:            int64(capacity),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ristrettoStore{c}
}
func (s ristrettoStore) Get(k string) (int, bool) { return s.c.Get(k) }
func (s ristrettoStore) Set(k string, v int)      { s.c.SetWithTTL(k, v, 1, ttl) }
func (s ristrettoStore) Settle()                  { s.c.Wait() }
func (s ristrettoStore) Close()                   { s.c.Close() }

type golangLRUStore struct{ c *expirable.LRU[string, int] }

func newGolangLRU(tb testing.TB, capacity int) store {
	return golangLRUStore{expirable.NewLRU[string, int](capacity, nil, ttl)}
}
func (s golangLRUStore) Get(k string) (int, bool) { return s.c.Get(k) }
func (s golangLRUStore) Set(k string, v int)      { s.c.Add(k, v) }
func (s golangLRUStore) Settle()                  {}
func (s golangLRUStore) Close()                   {}

type theineStore struct{ c *theine.Cache[string, int] }

func newTheine(tb testing.TB, capacity int) store {
	c, err := theine.NewBuilder[string, int](int64(capacity)).Build()
	if err != nil {
		tb.Fatal(err)
	}
	return theineStore{c}
}
func (s theineStore) Get(k string) (int, bool) { return s.c.Get(k) }
func (s theineStore) Set(k string, v int)      { s.c.SetWithTTL(k, v, 1, ttl) }
func (s theineStore) Settle()                  { s.c.Wait() }
func (s theineStore) Close()                   { s.c.Close() }

type sturdycStore struct{ c *sturdyc.Client[int] }

func newSturdyc(tb testing.TB, capacity int) store {
	return sturdycStore{sturdyc.New[int](capacity, 64, ttl, 10, sturdyc.WithNoContinuousEvictions())}
}
func (s sturdycStore) Get(k string) (int, bool) { return s.c.Get(k) }
func (s sturdycStore) Set(k string, v int)      { s.c.Set(k, v) }
func (s sturdycStore) Settle()                  {}
func (s sturdycStore) Close()                   {}

type goZeroStore struct{ c *collection.Cache }

func newGoZero(tb testing.TB, capacity int) store {
	c, err := collection.NewCache(ttl, collection.WithLimit(capacity))
	if err != nil {
		tb.Fatal(err)
	}
	return goZeroStore{c}
}
func (s goZeroStore) Get(k string) (int, bool) {
	v, ok := s.c.Get(k)
	if !ok {
		return 0, false
	}
	return v.(int), true
}
func (s goZeroStore) Set(k string, v int) { s.c.Set(k, v) }
func (s goZeroStore) Settle()             {}
func (s goZeroStore) Close()              {}

// keyNames returns the string keys "key-0" … "key-(n-1)".
func keyNames(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = "key-" + strconv.Itoa(i)
	}
	return ks
}

// trace draws n key indexes below keys, Zipf-distributed with exponent s,
// or uniform when s is 0, from a fixed seed.
func trace(seed uint64, keys, n int, s float64) []int {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	t := make([]int, n)
	if s == 0 {
		for i := range t {
			t[i] = r.IntN(keys)
		}
		return t
	}
	z := rand.NewZipf(r, s, 1, uint64(keys-1))
	for i := range t {
		t[i] = int(z.Uint64())
	}
	return t
}

const (
	getKeys  = 1 << 16
	traceLen = 1 << 20 // a power of two: indexes wrap with a mask
)

// prefill stores names[i] = i in c and waits until every key is readable.
// A cache that buffers writes may drop some of them (ristretto drops a Set
// when its write buffer is full); those are written again, a few rounds at
// most. The benchmark fails if a key is still missing: a Get benchmark must
// time hits, not misses.
func prefill(b *testing.B, c store, name string, names []string) {
	for i, k := range names {
		c.Set(k, i)
	}
	c.Settle()
	missing := 0
	for round := 0; round < 10; round++ {
		missing = 0
		for i, k := range names {
			if _, ok := c.Get(k); !ok {
				missing++
				c.Set(k, i)
			}
		}
		c.Settle()
		if missing == 0 {
			return
		}
	}
	b.Fatalf("%s: %d of %d prefilled keys still missing after 10 rounds of Set", name, missing, len(names))
}

// reportHits reports the share of timed Gets that hit, as hit%.
func reportHits(b *testing.B, hits *atomic.Int64) {
	b.ReportMetric(100*float64(hits.Load())/float64(b.N), "hit%")
}

func BenchmarkCacheGet(b *testing.B) {
	names := keyNames(getKeys)
	for _, dist := range []struct {
		name string
		s    float64
	}{{"zipf", 1.01}, {"uniform", 0}} {
		tr := trace(1, getKeys, traceLen, dist.s)
		ks := make([]string, traceLen)
		for i, k := range tr {
			ks[i] = names[k]
		}
		for _, im := range impls {
			b.Run(dist.name+"/"+im.name, func(b *testing.B) {
				c := im.new(b, 2*getKeys)
				defer c.Close()
				prefill(b, c, im.name, names)
				var hits atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := rand.IntN(traceLen)
					n := int64(0)
					for pb.Next() {
						if _, ok := c.Get(ks[i&(traceLen-1)]); ok {
							n++
						}
						i++
					}
					hits.Add(n)
				})
				b.StopTimer()
				reportHits(b, &hits)
			})
		}
	}
}

func BenchmarkCacheSet(b *testing.B) {
	names := keyNames(getKeys)
	tr := trace(2, getKeys, traceLen, 1.01)
	ks := make([]string, traceLen)
	for i, k := range tr {
		ks[i] = names[k]
	}
	for _, im := range impls {
		b.Run(im.name, func(b *testing.B) {
			c := im.new(b, 2*getKeys)
			defer c.Close()
			prefill(b, c, im.name, names)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(traceLen)
				for pb.Next() {
					c.Set(ks[i&(traceLen-1)], i)
					i++
				}
			})
		})
	}
}

const (
	ratioKeys = 100_000
	ratioLen  = 1 << 20
)

// replay runs tr on c, a Get then a Set on a miss per access, and returns
// the hits.
func replay(c store, ks []string) int {
	hits := 0
	for i, k := range ks {
		if _, ok := c.Get(k); ok {
			hits++
		} else {
			c.Set(k, i)
		}
	}
	return hits
}

func BenchmarkCacheHitRatio(b *testing.B) {
	names := keyNames(ratioKeys)
	tr := trace(3, ratioKeys, ratioLen, 1.01)
	ks := make([]string, ratioLen)
	for i, k := range tr {
		ks[i] = names[k]
	}
	for _, im := range impls {
		b.Run("zipf/"+im.name, func(b *testing.B) {
			// The ratio over one whole replay, so that it does not depend
			// on b.N.
			c := im.new(b, ratioKeys/10)
			hits := replay(c, ks)
			c.Close()

			c = im.new(b, ratioKeys/10)
			defer c.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := ks[i&(ratioLen-1)]
				if _, ok := c.Get(k); !ok {
					c.Set(k, i)
				}
			}
			b.StopTimer()
			// After the timed loop: ResetTimer drops reported metrics.
			b.ReportMetric(100*float64(hits)/float64(len(ks)), "hit%")
		})
	}
}
