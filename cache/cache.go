package cache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/levee-go/levee/syncx"
)

// never is the cache time of an expiry that does not happen.
const never = math.MaxInt64

// Cache is a bounded in-process cache with expiry and a deduplicating
// loader; see the package documentation for what it guarantees.
//
// A Cache is safe for concurrent use by multiple goroutines. Create one
// with [New]; the zero value is not usable. Call [Cache.Close] when done
// with it if it ever ran a loader, so that no load or refresh outlives it.
type Cache[K comparable, V any] struct {
	shards []shard[K, V]
	mask   uint64         // len(shards)-1
	hash   func(K) uint64 // nil: a single shard
	weigh  func(K, V) int64
	cfg    config
	clock  Clock     // nil: the system's monotonic clock
	base   time.Time // cache time 0

	ctr                                  [stripes]counters // hits and misses, striped per goroutine
	notFoundHits, loads, loadErrors      atomic.Int64
	staleServed, refreshes, refreshFails atomic.Int64

	closeMu sync.RWMutex // guards closed; read-held while a load registers in wg
	closed  bool
	ctx     context.Context // cancelled by Close; every load's context ends with it
	cancel  context.CancelFunc
	wg      sync.WaitGroup // load and refresh goroutines
}

// shard is a part of the cache with its own lock, map, flights and
// eviction queues.
type shard[K comparable, V any] struct {
	mu       sync.RWMutex       // guards every field below but evictions
	m        map[K]*entry[K, V] // entries, fresh, stale or negative
	flights  map[K]*flight[V]   // loads in flight
	small    fifo[K, V]         // S3-FIFO's small queue
	main     fifo[K, V]         // S3-FIFO's main queue
	ghost    ghost[K]           // keys recently evicted from small
	capacity int64              // of this shard, in weight
	smallCap int64              // weight above which small is evicted first
	free     *entry[K, V]       // recycled entries, linked by next
	nfree    int                // length of free, at most maxFree
	evicted  atomic.Int64       // entries evicted for room, read by Stats without the lock
	_        [128]byte          // keeps the next shard's lock off this shard's lines
}

// maxFree bounds the recycled entries kept by a shard.
const maxFree = 64

// flight is one load of a key (or of a batch of keys) that callers wait for.
type flight[V any] struct {
	done chan struct{} // closed when val and err are set
	val  V
	err  error
	// detached is set, under the shard's lock, by a Set, Delete or Clear of
	// the key made while the load runs: its result then goes to the callers
	// already waiting but is not stored.
	detached bool
	refresh  bool // a background refresh started by Take
}

// stripes spreads the hit and miss counters so that goroutines on
// different cores seldom write the same cache line. A power of two.
const stripes = 8

// counters of one stripe, alone on a pair of cache lines (cores prefetch
// lines in adjacent pairs).
type counters struct {
	hits, misses atomic.Int64
	_            [112]byte
}

// stripe picks the counters of the calling goroutine: the address of a
// local variable is stable for a goroutine calling from one place and
// differs between goroutines (their stacks are apart), so a busy goroutine
// keeps writing the same stripe, which stays in its core's cache. Any
// stripe is correct (Stats sums them); the pointer becomes a number at once,
// so the variable stays on the stack and nothing allocates.
func stripe() int {
	var anchor byte
	return int(uint64(uintptr(unsafe.Pointer(&anchor))>>12) * 0x9E3779B97F4A7C15 >> 61)
}

// minShardCapacity is the least capacity New gives a shard when it picks
// the number of shards itself: eviction is per shard, and tiny shards
// evict unevenly.
const minShardCapacity = 128

// New returns an empty cache holding at most capacity entries, or a total
// weight of capacity with [WithWeigher]. capacity must be between 1 and
// [MaxCapacity]. It returns an error naming any option out of range.
//
// New starts no goroutine: loads and background refreshes run on
// goroutines of their own, which [Cache.Close] waits for.
func New[K comparable, V any](capacity int, opts ...Option) (*Cache[K, V], error) {
	if capacity < 1 || int64(capacity) > MaxCapacity {
		return nil, fmt.Errorf("cache: capacity must be between 1 and %d, got %d", int64(MaxCapacity), capacity)
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	c := &Cache[K, V]{cfg: cfg, clock: cfg.clock, hash: hasherFor[K]()}
	if cfg.weigher != nil {
		w, ok := cfg.weigher.(func(K, V) int64)
		if !ok {
			return nil, fmt.Errorf("cache: weigher %T does not fit Cache[%s, %s]", cfg.weigher, typeName[K](), typeName[V]())
		}
		c.weigh = w
	}
	n := cfg.shards
	if n == 0 {
		n = 1
		for n < 16*runtime.GOMAXPROCS(0) && n < MaxShards {
			n *= 2
		}
		for n > 1 && capacity/n < minShardCapacity {
			n /= 2
		}
	}
	if c.hash == nil {
		if cfg.shards > 1 {
			return nil, fmt.Errorf("cache: keys of type %s cannot be spread over shards (only integers, booleans, pointers, strings and padding-free structs and arrays of them can), so WithShards must be 1, got %d", typeName[K](), cfg.shards)
		}
		n = 1
	}
	if n > capacity {
		return nil, fmt.Errorf("cache: %d shards need a capacity of at least %d, got %d", n, n, capacity)
	}
	c.shards = make([]shard[K, V], n)
	c.mask = uint64(n - 1)
	per, rest := int64(capacity)/int64(n), int64(capacity)%int64(n)
	for i := range c.shards {
		s := &c.shards[i]
		s.capacity = per
		if int64(i) < rest {
			s.capacity++
		}
		s.smallCap = max(s.capacity/10, 1)
		s.m = make(map[K]*entry[K, V])
		s.flights = make(map[K]*flight[V])
	}
	if c.clock != nil {
		c.base = c.clock.Now()
	} else {
		c.base = time.Now()
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

func typeName[T any]() string {
	return fmt.Sprintf("%T", (*T)(nil))[1:]
}

// now reads the clock once, as nanoseconds since New.
func (c *Cache[K, V]) now() int64 {
	if c.clock == nil {
		return int64(time.Since(c.base))
	}
	return int64(c.clock.Now().Sub(c.base))
}

func (c *Cache[K, V]) shardOf(key K) *shard[K, V] {
	if c.hash == nil {
		return &c.shards[0]
	}
	return &c.shards[c.hash(key)&c.mask]
}

// Get returns the value stored for key and true if it is there and fresh;
// otherwise the zero value and false. It never calls a loader and never
// returns an expired value or a remembered [ErrNotFound]. Get takes a
// shard's read lock, reads the clock once and allocates nothing.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	s := c.shardOf(key)
	s.mu.RLock()
	e := s.m[key]
	if e != nil && !e.notFound && (e.expire == never || c.now() < e.expire) {
		v := e.value
		e.hit()
		s.mu.RUnlock()
		c.ctr[stripe()].hits.Add(1)
		return v, true
	}
	s.mu.RUnlock()
	c.ctr[stripe()].misses.Add(1)
	var zero V
	return zero, false
}

// Set stores v for key with the cache's TTL ([WithTTL]; none by default),
// replacing what was there. The value is visible to every Get that starts
// after Set returns. A load of key in flight when Set is called still hands
// its result to the callers waiting for it, but does not overwrite v.
func (c *Cache[K, V]) Set(key K, v V) {
	c.SetWithTTL(key, v, c.cfg.ttl)
}

// SetWithTTL is [Cache.Set] with a time to live of its own, jittered like
// the cache's. A ttl of zero or less, or above [MaxTTL], stores an entry
// that does not expire by time.
func (c *Cache[K, V]) SetWithTTL(key K, v V, ttl time.Duration) {
	w := c.weightOf(key, v)
	s := c.shardOf(key)
	now := c.now()
	s.mu.Lock()
	s.detach(key)
	c.store(s, key, v, w, now, ttl, false)
	s.mu.Unlock()
}

// Delete removes key. A load of key in flight when Delete is called still
// hands its result to the callers waiting for it, but the result is not
// stored: no value loaded before Delete returned is in the cache after it.
func (c *Cache[K, V]) Delete(key K) {
	s := c.shardOf(key)
	s.mu.Lock()
	s.detach(key)
	if e := s.m[key]; e != nil {
		s.remove(e)
	}
	s.mu.Unlock()
}

// Clear removes every entry and forgets the ghost keys of the eviction
// policy. Like [Cache.Delete], it keeps loads in flight from storing their
// results. Counters are not reset.
func (c *Cache[K, V]) Clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, f := range s.flights {
			f.detached = true
		}
		clear(s.flights)
		clear(s.m)
		s.small, s.main = fifo[K, V]{}, fifo[K, V]{}
		s.ghost.clear()
		s.free, s.nfree = nil, 0
		s.mu.Unlock()
	}
}

// Close cancels the context of every load and background refresh in
// flight and waits for them to return; a loader that ignores its context
// delays Close until it returns. After Close, Get, Set, Delete and Clear
// keep working, and Take, TakeResult and TakeMany serve what is cached but
// return [ErrClosed] where they would load. Close may be called more than
// once.
func (c *Cache[K, V]) Close() {
	c.closeMu.Lock()
	c.closed = true
	c.closeMu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// Stats returns a snapshot of the counters.
func (c *Cache[K, V]) Stats() Stats {
	var st Stats
	for i := range c.ctr {
		st.Hits += c.ctr[i].hits.Load()
		st.Misses += c.ctr[i].misses.Load()
	}
	st.NotFoundHits = c.notFoundHits.Load()
	st.Loads = c.loads.Load()
	st.LoadErrors = c.loadErrors.Load()
	st.StaleServed = c.staleServed.Load()
	st.Refreshes = c.refreshes.Load()
	st.RefreshErrors = c.refreshFails.Load()
	for i := range c.shards {
		s := &c.shards[i]
		st.Evictions += s.evicted.Load()
		s.mu.RLock()
		st.Entries += int64(len(s.m))
		st.Weight += s.small.weight + s.main.weight
		s.mu.RUnlock()
	}
	return st
}

func (c *Cache[K, V]) weightOf(key K, v V) int64 {
	if c.weigh == nil {
		return 1
	}
	return max(c.weigh(key, v), 1)
}

// lifetime draws the jittered length of a time to live.
func (c *Cache[K, V]) lifetime(ttl time.Duration) int64 {
	j := int64(float64(ttl) * c.cfg.jitter)
	if j <= 0 {
		return int64(ttl)
	}
	return int64(ttl) - j + rand.Int64N(2*j+1)
}

// stamp sets the expiry, grace and refresh times of e written at now.
func (c *Cache[K, V]) stamp(e *entry[K, V], now int64, ttl time.Duration) {
	e.expire, e.dead, e.refreshAt = never, never, never
	if ttl <= 0 || ttl > MaxTTL {
		return
	}
	e.expire = addSat(now, c.lifetime(ttl))
	e.dead = e.expire
	if e.notFound {
		return
	}
	if c.cfg.grace > 0 {
		e.dead = addSat(e.dead, int64(c.cfg.grace))
	}
	if c.cfg.refresh > 0 {
		if at := addSat(now, c.lifetime(c.cfg.refresh)); at < e.expire {
			e.refreshAt = at
		}
	}
}

// addSat adds two non-negative durations, or a time and a duration,
// saturating at never: a clock run centuries ahead must not wrap an expiry
// into the past.
func addSat(a, b int64) int64 {
	if b > 0 && a > never-b {
		return never
	}
	return a + b
}

// detach keeps the load of key in flight, if any, from storing its
// result, and lets the next caller start a new one. Called under s.mu.
func (s *shard[K, V]) detach(key K) {
	if f := s.flights[key]; f != nil {
		f.detached = true
		delete(s.flights, key)
	}
}

// store writes v (or a remembered ErrNotFound) for key. Called under s.mu.
func (c *Cache[K, V]) store(s *shard[K, V], key K, v V, w, now int64, ttl time.Duration, notFound bool) {
	e := s.m[key]
	if w > s.capacity {
		// Heavier than the shard: storing it would evict everything else.
		if e != nil {
			s.remove(e)
		}
		return
	}
	if e != nil {
		e.value, e.notFound = v, notFound
		c.stamp(e, now, ttl)
		e.refreshing.Store(false)
		if d := w - e.weight; d != 0 {
			e.weight = w
			if e.queue == inSmall {
				s.small.weight += d
			} else {
				s.main.weight += d
			}
			s.evict(now, e)
		}
		return
	}
	e = s.alloc()
	e.key, e.value, e.weight, e.notFound = key, v, w, notFound
	c.stamp(e, now, ttl)
	s.m[key] = e
	if s.ghost.take(key) {
		e.queue = inMain
		s.main.push(e)
	} else {
		e.queue = inSmall
		s.small.push(e)
	}
	s.evict(now, e)
}

func (s *shard[K, V]) alloc() *entry[K, V] {
	if e := s.free; e != nil {
		s.free, e.next = e.next, nil
		s.nfree--
		return e
	}
	return new(entry[K, V])
}

// remove unlinks e and recycles it. Called under s.mu; readers only touch
// an entry under the read lock, so none holds e any more.
func (s *shard[K, V]) remove(e *entry[K, V]) {
	if e.queue == inSmall {
		s.small.remove(e)
	} else {
		s.main.remove(e)
	}
	s.drop(e)
}

// drop forgets e, already unlinked from its queue, and recycles it.
func (s *shard[K, V]) drop(e *entry[K, V]) {
	delete(s.m, e.key)
	var zero entry[K, V]
	e.key, e.value = zero.key, zero.value // do not keep them alive
	e.queue = 0
	e.freq.Store(0)
	e.refreshing.Store(false)
	if s.nfree < maxFree {
		e.next = s.free
		s.free = e
		s.nfree++
	}
}

// promoteFreq is the read count from which an entry leaving the small
// queue moves to the main queue instead of being evicted.
const promoteFreq = 1

// evict removes entries until the shard's weight fits its capacity,
// keeping keep (the entry just written). Called under s.mu.
func (s *shard[K, V]) evict(now int64, keep *entry[K, V]) {
	for s.small.weight+s.main.weight > s.capacity {
		if (s.small.weight > s.smallCap || s.main.len == 0) && s.small.tail != nil && s.small.tail != keep {
			s.evictSmall(now)
		} else if t := s.main.tail; t != nil && (t != keep || s.main.len > 1) {
			if t == keep {
				s.main.remove(t)
				s.main.push(t)
				continue
			}
			s.evictMain(now)
		} else if s.small.tail != nil && s.small.tail != keep {
			s.evictSmall(now)
		} else {
			return
		}
	}
}

func (s *shard[K, V]) evictSmall(now int64) {
	t := s.small.tail
	s.small.remove(t)
	if t.freq.Load() >= promoteFreq && now < t.dead {
		t.freq.Store(0)
		t.queue = inMain
		s.main.push(t)
		return
	}
	s.ghost.add(t.key, len(s.m))
	s.drop(t)
	s.evicted.Add(1)
}

func (s *shard[K, V]) evictMain(now int64) {
	t := s.main.tail
	if f := t.freq.Load(); f > 0 && now < t.dead {
		t.freq.Store(f - 1)
		s.main.remove(t)
		s.main.push(t)
		return
	}
	s.remove(t)
	s.evicted.Add(1)
}

// errNilLoader is returned when a Take is given no loader.
var errNilLoader = errors.New("cache: nil loader")

// Take returns the fresh value cached for key or, on a miss, loads it with
// load. It is [Cache.TakeResult] without the [Source].
func (c *Cache[K, V]) Take(ctx context.Context, key K, load func(ctx context.Context) (V, error)) (V, error) {
	r, err := c.TakeResult(ctx, key, load)
	return r.Value, err
}

// TakeResult returns the fresh value cached for key, with [SourceCache].
// On a miss it loads the value with load, stores it with the cache's TTL
// and returns it with [SourceLoader].
//
// Concurrent misses of one key share one load: the first starts it on a
// goroutine of its own, every caller waits for it only as long as its own
// ctx allows (returning ctx.Err() when it ends), and the load goes on
// whoever leaves. load gets a context that carries the values of the
// first caller's ctx but not its deadline or cancellation, and that ends
// only when [Cache.Close] is called (or after [WithLoadTimeout]).
//
// A load's error is returned to every caller that waited for it and is not
// cached, except [ErrNotFound] (or an error wrapping it): that one is
// remembered for the not-found TTL, during which TakeResult returns
// ErrNotFound at once. A panic in load is returned as a *[syncx.PanicError]
// holding the panic value and stack.
//
// With [WithStaleGrace], a caller that finds the entry expired but within
// its grace period gets the old value, with [SourceStale] and a nil error,
// if the load fails or its ctx ends first. With [WithRefreshAfter], a
// caller that finds the entry older than the refresh age starts one
// background reload and, like every other caller, gets the current value;
// a failed reload is tried again halfway between its failure and the
// expiry.
func (c *Cache[K, V]) TakeResult(ctx context.Context, key K, load func(ctx context.Context) (V, error)) (Result[V], error) {
	var res Result[V]
	if load == nil {
		return res, errNilLoader
	}
	s := c.shardOf(key)
	now := c.now()
	s.mu.RLock()
	if e := s.m[key]; e != nil && now < e.expire {
		res.Value = e.value
		nf := e.notFound
		refresh := !nf && now >= e.refreshAt && e.refreshing.CompareAndSwap(false, true)
		e.hit()
		s.mu.RUnlock()
		if !nf {
			c.ctr[stripe()].hits.Add(1)
		}
		return c.served(ctx, s, key, load, res, nf, refresh)
	}
	s.mu.RUnlock()
	c.ctr[stripe()].misses.Add(1)

	s.mu.Lock()
	e := s.m[key]
	if e != nil && now < e.expire { // stored while we changed locks; counted as a miss
		res.Value = e.value
		nf := e.notFound
		refresh := !nf && now >= e.refreshAt && e.refreshing.CompareAndSwap(false, true)
		s.mu.Unlock()
		return c.served(ctx, s, key, load, res, nf, refresh)
	}
	var stale V
	hasStale := e != nil && !e.notFound && now < e.dead
	if hasStale {
		stale = e.value
	}
	f := s.flights[key]
	var err error
	if f == nil {
		if err = ctx.Err(); err == nil {
			if err = c.startLoad(); err == nil {
				f = &flight[V]{done: make(chan struct{})}
				s.flights[key] = f
				c.loads.Add(1)
				go c.runOne(ctx, s, key, f, load)
			}
		}
	}
	s.mu.Unlock()
	if f != nil {
		select {
		case <-f.done:
			err = f.err
			if err == nil {
				return Result[V]{Value: f.val, Source: SourceLoader}, nil
			}
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if hasStale && !errors.Is(err, ErrNotFound) {
		c.serveStale(err)
		return Result[V]{Value: stale, Source: SourceStale}, nil
	}
	return res, err
}

// served finishes a Take that found a fresh entry (its hit or miss is
// counted already).
func (c *Cache[K, V]) served(ctx context.Context, s *shard[K, V], key K, load func(context.Context) (V, error), res Result[V], notFound, refresh bool) (Result[V], error) {
	if notFound {
		c.notFoundHits.Add(1)
		var zero V
		res.Value = zero
		return res, ErrNotFound
	}
	if refresh {
		c.refresh(ctx, s, key, load)
	}
	return res, nil
}

func (c *Cache[K, V]) serveStale(err error) {
	c.staleServed.Add(1)
	if c.cfg.hook != nil {
		c.cfg.hook(Event{Kind: EventStaleServed, Err: err})
	}
}

// startLoad registers a load goroutine with Close, or says the cache is
// closed.
func (c *Cache[K, V]) startLoad() error {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	c.wg.Add(1)
	return nil
}

// refresh starts a background reload of key unless a load of it is in
// flight already.
func (c *Cache[K, V]) refresh(ctx context.Context, s *shard[K, V], key K, load func(context.Context) (V, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flights[key] != nil {
		return // its result will be stored and clear the refreshing flag
	}
	if c.startLoad() != nil {
		if e := s.m[key]; e != nil {
			e.refreshing.Store(false)
		}
		return
	}
	f := &flight[V]{done: make(chan struct{}), refresh: true}
	s.flights[key] = f
	c.loads.Add(1)
	c.refreshes.Add(1)
	go c.runOne(ctx, s, key, f, load)
}

// loadContext returns the context a load runs with: the values of the
// caller's ctx, ended by Close or the load timeout only.
func (c *Cache[K, V]) loadContext(ctx context.Context) (context.Context, context.CancelFunc) {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(c.ctx, cancel)
	if c.cfg.loadTimeout > 0 {
		var cancelT context.CancelFunc
		lctx, cancelT = context.WithTimeout(lctx, c.cfg.loadTimeout)
		return lctx, func() { cancelT(); stop(); cancel() }
	}
	return lctx, func() { stop(); cancel() }
}

func panicError(v any) error {
	return &syncx.PanicError{Value: v, Stack: debug.Stack()}
}

// runOne runs a single-key load on its own goroutine.
func (c *Cache[K, V]) runOne(ctx context.Context, s *shard[K, V], key K, f *flight[V], load func(context.Context) (V, error)) {
	defer c.wg.Done()
	lctx, cancel := c.loadContext(ctx)
	defer cancel()
	var v V
	err := syncx.ErrGoexit // stays if load calls runtime.Goexit
	defer func() { c.finishOne(s, key, f, v, err) }()
	v, err = callLoad(lctx, load)
}

func callLoad[V any](ctx context.Context, load func(context.Context) (V, error)) (v V, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	return load(ctx)
}

// finishOne stores the outcome of a single-key load and wakes its callers.
func (c *Cache[K, V]) finishOne(s *shard[K, V], key K, f *flight[V], v V, err error) {
	notFound := errors.Is(err, ErrNotFound)
	var w int64 = 1
	if err == nil {
		w = c.weightOf(key, v)
	}
	now := c.now()
	s.mu.Lock()
	if s.flights[key] == f {
		delete(s.flights, key)
	}
	if !f.detached {
		c.keep(s, key, v, w, now, err, notFound)
	}
	s.mu.Unlock()
	if err != nil && !notFound {
		c.failed(f.refresh, err)
	} else if err != nil {
		var zero V
		v = zero
	}
	f.val, f.err = v, err
	close(f.done)
}

// keep stores the outcome of a load that was not detached. Called under
// s.mu.
func (c *Cache[K, V]) keep(s *shard[K, V], key K, v V, w, now int64, err error, notFound bool) {
	switch {
	case err == nil:
		c.store(s, key, v, w, now, c.cfg.ttl, false)
	case notFound && c.cfg.notFoundTTL > 0:
		var zero V
		c.store(s, key, zero, 1, now, c.cfg.notFoundTTL, true)
	case notFound:
		if e := s.m[key]; e != nil {
			s.remove(e)
		}
	default:
		// A failed load leaves the entry (expired or not) as it was, for
		// serving stale. A failed refresh is tried again halfway to the
		// expiry, not by the very next Take: a source that fails is not
		// hammered by every reader of a hot key.
		if e := s.m[key]; e != nil {
			if e.refreshAt != never && now >= e.refreshAt && e.expire != never {
				e.refreshAt = now + (e.expire-now)/2
			}
			e.refreshing.Store(false)
		}
	}
}

func (c *Cache[K, V]) failed(refresh bool, err error) {
	kind := EventLoadError
	if refresh {
		kind = EventRefreshError
		c.refreshFails.Add(1)
	} else {
		c.loadErrors.Add(1)
	}
	if c.cfg.hook != nil {
		c.cfg.hook(Event{Kind: kind, Err: err})
	}
}

// TakeMany returns the values of keys: those cached and fresh, plus the
// missing ones loaded by one call of load with the keys no load is in
// flight for. Keys already being loaded (by Take, TakeResult or another
// TakeMany) are waited for instead of loaded again. Duplicate keys are
// looked up once.
//
// load returns the values it found; a requested key absent from its map is
// taken as [ErrNotFound] and remembered like one, keys it was not asked
// for are ignored. An error from load fails every key of the call (or, for
// ErrNotFound, marks them all not found).
//
// The returned map holds every key that has a value (a stale one within
// its grace period included, see [WithStaleGrace]); keys not found are
// absent from it. The error is the first load error met, or ctx.Err() if
// ctx ended before every key was in; the map then holds the keys that
// were.
func (c *Cache[K, V]) TakeMany(ctx context.Context, keys []K, load func(ctx context.Context, missing []K) (map[K]V, error)) (map[K]V, error) {
	out := make(map[K]V, len(keys))
	if load == nil {
		return out, errNilLoader
	}
	type wait struct {
		key      K
		f        *flight[V]
		stale    V
		hasStale bool
	}
	var (
		waits    []wait
		missing  []K
		mine     []*flight[V]
		firstErr error
		started  bool
		seen     = make(map[K]struct{}, len(keys))
	)
	now := c.now()
	for _, k := range keys {
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		s := c.shardOf(k)
		s.mu.Lock()
		e := s.m[k]
		if e != nil && now < e.expire {
			if e.notFound {
				c.notFoundHits.Add(1)
			} else {
				out[k] = e.value
				e.hit()
				c.ctr[stripe()].hits.Add(1)
			}
			s.mu.Unlock()
			continue
		}
		c.ctr[stripe()].misses.Add(1)
		w := wait{key: k}
		if e != nil && !e.notFound && now < e.dead {
			w.stale, w.hasStale = e.value, true
		}
		w.f = s.flights[k]
		if w.f == nil {
			err := ctx.Err()
			if err == nil && !started {
				if err = c.startLoad(); err == nil {
					started = true
				}
			}
			if err != nil {
				s.mu.Unlock()
				if w.hasStale {
					out[k] = w.stale
					c.serveStale(err)
				} else if firstErr == nil {
					firstErr = err
				}
				continue
			}
			w.f = &flight[V]{done: make(chan struct{})}
			s.flights[k] = w.f
			missing = append(missing, k)
			mine = append(mine, w.f)
		}
		s.mu.Unlock()
		waits = append(waits, w)
	}
	if started {
		c.loads.Add(1)
		go c.runMany(ctx, missing, mine, load)
	}
	done := ctx.Done()
	for _, w := range waits {
		var err error
		select {
		case <-w.f.done:
			err = w.f.err
		case <-done:
			err = ctx.Err()
		}
		switch {
		case err == nil:
			out[w.key] = w.f.val
		case errors.Is(err, ErrNotFound):
		case w.hasStale:
			out[w.key] = w.stale
			c.serveStale(err)
		case firstErr == nil:
			firstErr = err
		}
	}
	return out, firstErr
}

// runMany runs a batch load on its own goroutine.
func (c *Cache[K, V]) runMany(ctx context.Context, keys []K, fs []*flight[V], load func(context.Context, []K) (map[K]V, error)) {
	defer c.wg.Done()
	lctx, cancel := c.loadContext(ctx)
	defer cancel()
	var got map[K]V
	err := syncx.ErrGoexit
	defer func() { c.finishMany(keys, fs, got, err) }()
	got, err = callMany(lctx, slices.Clone(keys), load)
}

func callMany[K comparable, V any](ctx context.Context, keys []K, load func(context.Context, []K) (map[K]V, error)) (m map[K]V, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	return load(ctx, keys)
}

// finishMany stores the outcome of a batch load key by key and wakes the
// callers of each.
func (c *Cache[K, V]) finishMany(keys []K, fs []*flight[V], got map[K]V, err error) {
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.failed(false, err)
	}
	now := c.now()
	for i, k := range keys {
		f := fs[i]
		var v V
		kerr := err
		if kerr == nil {
			var ok bool
			if v, ok = got[k]; !ok {
				kerr = ErrNotFound
			}
		}
		notFound := errors.Is(kerr, ErrNotFound)
		var w int64 = 1
		if kerr == nil {
			w = c.weightOf(k, v)
		}
		s := c.shardOf(k)
		s.mu.Lock()
		if s.flights[k] == f {
			delete(s.flights, k)
		}
		if !f.detached {
			c.keep(s, k, v, w, now, kerr, notFound)
		}
		s.mu.Unlock()
		f.val, f.err = v, kerr
		close(f.done)
	}
}
