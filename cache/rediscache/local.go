package rediscache

import (
	"sync/atomic"
	"time"

	"github.com/levee-go/levee/cache"
)

// ErrNotFound is the error a [Loader] returns for a key that does not exist
// in the data source, and the error Take returns for such a key. It is
// [cache.ErrNotFound], so one loader serves both caches.
var ErrNotFound = cache.ErrNotFound

// localEntry is what the local tier holds for a key: a value or the memory
// of its absence.
type localEntry[V any] struct {
	v        V
	notFound bool
}

// localTier is the in-process tier of [WithLocal], a levee cache.
type localTier[V any] struct {
	c   *cache.Cache[string, localEntry[V]]
	ttl time.Duration
	// epoch moves on every Set and Delete of the instance. A value read
	// from Redis enters the tier only if the epoch has not moved since the
	// read began, so a read that raced a Set or a Delete cannot put the
	// old value back.
	epoch atomic.Uint64
}

func newLocalTier[V any](capacity int, ttl time.Duration) (*localTier[V], error) {
	// No jitter: the tier's TTL is short, and an entry must not outlive
	// its TTL, which Take sets to at most what the value has left in Redis.
	c, err := cache.New[string, localEntry[V]](capacity, cache.WithTTL(ttl), cache.WithJitter(0), cache.WithNotFoundTTL(0))
	if err != nil {
		return nil, err
	}
	return &localTier[V]{c: c, ttl: ttl}, nil
}

func (t *localTier[V]) get(key string) (localEntry[V], bool) { return t.c.Get(key) }

// keep stores e for at most the tier's TTL and at most ttl, unless a Set
// or Delete ran since epoch was read.
func (t *localTier[V]) keep(key string, e localEntry[V], ttl time.Duration, epoch uint64) {
	if t.epoch.Load() != epoch {
		return
	}
	t.c.SetWithTTL(key, e, min(ttl, t.ttl))
}

// set stores e, the newest value, for at most the tier's TTL and ttl.
func (t *localTier[V]) set(key string, e localEntry[V], ttl time.Duration) {
	t.epoch.Add(1)
	t.c.SetWithTTL(key, e, min(ttl, t.ttl))
}

func (t *localTier[V]) drop(key string) {
	t.epoch.Add(1)
	t.c.Delete(key)
}

func (t *localTier[V]) close() { t.c.Close() }
