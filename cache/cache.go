package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Cache is a bounded in-process cache with expiry and a deduplicating
// loader. See the package documentation.
//
// A Cache is safe for concurrent use by multiple goroutines. Create one
// with [New]; the zero value is not usable.
type Cache[K comparable, V any] struct {
	cfg      config
	capacity int64

	mu sync.Mutex // guards m (skeleton implementation)
	m  map[K]V
}

// New returns a cache holding at most capacity entries (or total weight,
// with [WithWeigher]). capacity must be between 1 and [MaxCapacity].
func New[K comparable, V any](capacity int, opts ...Option) (*Cache[K, V], error) {
	if capacity < 1 || int64(capacity) > MaxCapacity {
		return nil, fmt.Errorf("cache: capacity must be between 1 and %d, got %d", int64(MaxCapacity), capacity)
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.weigher != nil {
		if _, ok := cfg.weigher.(func(K, V) int64); !ok {
			return nil, fmt.Errorf("cache: weigher %T does not fit Cache[%T, %T]", cfg.weigher, *new(K), *new(V))
		}
	}
	return &Cache[K, V]{cfg: cfg, capacity: int64(capacity), m: make(map[K]V)}, nil
}

// Get returns the value stored for key if it is there and fresh.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[key]
	c.mu.Unlock()
	return v, ok
}

// Set stores v for key with the cache's TTL.
func (c *Cache[K, V]) Set(key K, v V) {
	c.mu.Lock()
	c.m[key] = v
	c.mu.Unlock()
}

// SetWithTTL stores v for key, expiring after ttl (jittered). A ttl of zero
// or less, or above [MaxTTL], stores an entry that does not expire by time.
func (c *Cache[K, V]) SetWithTTL(key K, v V, ttl time.Duration) {
	c.Set(key, v)
}

// Delete removes key.
func (c *Cache[K, V]) Delete(key K) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// Clear removes every entry.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// Close stops the background refreshes and loads and waits for them.
func (c *Cache[K, V]) Close() {}

// Stats returns a snapshot of the counters.
func (c *Cache[K, V]) Stats() Stats { return Stats{} }

// Take returns the fresh value for key, or loads it with load.
func (c *Cache[K, V]) Take(ctx context.Context, key K, load func(ctx context.Context) (V, error)) (V, error) {
	r, err := c.TakeResult(ctx, key, load)
	return r.Value, err
}

// TakeResult is [Cache.Take] that also says where the value came from.
func (c *Cache[K, V]) TakeResult(ctx context.Context, key K, load func(ctx context.Context) (V, error)) (Result[V], error) {
	if v, ok := c.Get(key); ok {
		return Result[V]{Value: v, Source: SourceCache}, nil
	}
	v, err := load(ctx)
	if err != nil {
		return Result[V]{}, err
	}
	c.Set(key, v)
	return Result[V]{Value: v, Source: SourceLoader}, nil
}

// TakeMany returns the values of keys, loading the missing ones with one
// call of load.
func (c *Cache[K, V]) TakeMany(ctx context.Context, keys []K, load func(ctx context.Context, missing []K) (map[K]V, error)) (map[K]V, error) {
	out := make(map[K]V, len(keys))
	var missing []K
	for _, k := range keys {
		if v, ok := c.Get(k); ok {
			out[k] = v
		} else {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	got, err := load(ctx, missing)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return out, err
	}
	for k, v := range got {
		c.Set(k, v)
		out[k] = v
	}
	return out, nil
}
