package rediscache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/levee-go/levee/syncx"
	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is matched (with [errors.Is]) by the errors the cache
// returns when Redis could not be reached or answered with an error; the
// error also wraps go-redis's own.
var ErrUnavailable = errors.New("rediscache: redis unavailable")

// ErrMiss is returned by [Cache.Get] for a key that is not in the cache.
var ErrMiss = errors.New("rediscache: not in cache")

// Loader loads the value of key from the data source behind the cache. It
// returns [ErrNotFound] (or an error wrapping it) when the key does not
// exist there; the cache then remembers the absence for the not-found TTL.
// It gets the key, unlike the in-process cache's loader, so that a
// top-level function can serve every key: a closure capturing the key
// would cost an allocation on every Take, hits included. It must honour
// ctx, which ends when every caller waiting for the load has left.
type Loader[V any] func(ctx context.Context, key string) (V, error)

// EventKind says what an [Event] reports.
type EventKind uint8

const (
	// EventRedisDown: a Redis command failed after the previous one had
	// succeeded. Reported once per outage.
	EventRedisDown EventKind = iota + 1
	// EventRedisUp: a Redis command succeeded after an outage.
	EventRedisUp
	// EventCorrupt: a value in Redis could not be decoded; it was deleted
	// and is loaded again.
	EventCorrupt
	// EventLeaseTimeout: another instance held the lease of a key for
	// longer than the lease wait; this instance loads the key itself.
	EventLeaseTimeout
)

func (k EventKind) String() string {
	switch k {
	case EventRedisDown:
		return "RedisDown"
	case EventRedisUp:
		return "RedisUp"
	case EventCorrupt:
		return "Corrupt"
	case EventLeaseTimeout:
		return "LeaseTimeout"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is what the hook of [WithEventHook] is told.
type Event struct {
	Kind EventKind
	Key  string    // the key concerned, without the prefix; "" for RedisUp
	Err  error     // the Redis or decoding error, for RedisDown and Corrupt
	Time time.Time // on the cache's clock
}

// Stats is a snapshot of a cache's counters since [New], a plain value.
type Stats struct {
	LocalHits     int64 // lookups answered by the local tier
	Hits          int64 // lookups answered by a fresh value in Redis
	NotFoundHits  int64 // lookups answered by a not-found placeholder (local or Redis)
	Misses        int64 // lookups of Take that went on to a load, a wait or a stale value
	Loads         int64 // calls of a loader
	LoadErrors    int64 // loader calls that failed (ErrNotFound is not a failure)
	Shared        int64 // Take calls that shared one load with others in the instance
	Corrupt       int64 // values that could not be decoded, deleted and reloaded
	RedisErrors   int64 // Redis commands that failed, the caller's own cancellation aside
	LeasesWon     int64 // leases this instance won and loaded under
	LeaseWaits    int64 // misses that found another instance's lease
	LeaseTimeouts int64 // lease waits that ran out, then loaded here
	StaleServed   int64 // stale values returned (lease held elsewhere, or the reload failed)
	OutageSkips   int64 // lookups that did not wait for Redis during an outage (see Cache.Take)
	RedisDown     bool  // the last Redis command failed
}

// hitStripes spreads the hit counters, which every hit writes, over cache
// lines of their own, so that parallel hits on several cores do not pull
// one line back and forth.
const hitStripes = 8

type hitCounters struct {
	local, redis atomic.Int64
	_            [128 - 16]byte
}

// hitStripe picks the stripe of the calling goroutine from the address of
// its stack: goroutines on different stacks mostly land apart.
func hitStripe() int {
	var anchor byte
	return int(uint64(uintptr(unsafe.Pointer(&anchor))>>12) * 0x9E3779B97F4A7C15 >> 61)
}

type counters struct {
	hits [hitStripes]hitCounters

	notFoundHits, misses                    atomic.Int64
	loads, loadErrors, shared, corrupt      atomic.Int64
	redisErrors, leasesWon, leaseWaits      atomic.Int64
	leaseTimeouts, staleServed, outageSkips atomic.Int64
}

// Records in Redis. A value is tagValue, its soft expiry in Unix
// milliseconds (8 bytes, big-endian), then the codec's bytes; a not-found
// placeholder is the single byte tagNotFound. Anything else is corrupt.
const (
	tagNotFound = 0x00
	tagValue    = 0x01
	headerLen   = 9
	placeholder = "\x00"
	leaseSuffix = "\x00lease"
)

// fillStripes is how many counters of completed loads Take spreads keys
// over; see Cache.fills.
const fillStripes = 1024

// Polling of a value that another instance loads under its lease.
const (
	minPoll = 2 * time.Millisecond
	maxPoll = 50 * time.Millisecond
)

// releaseScript deletes a lease only if it is still ours.
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Cache is a cache-aside layer over Redis: [Cache.Take] returns the value
// of a key from Redis, or loads it from the data source behind the cache,
// once per key at a time within the instance (and across instances with
// [WithLease]), and stores it in Redis for the next caller.
//
// A Cache is safe for concurrent use by multiple goroutines.
type Cache[V any] struct {
	rdb   redis.UniversalClient
	codec Codec[V]
	cfg   config
	rand  func() float64

	sf   syncx.SingleFlight[string, V]
	seed maphash.Seed
	// fills counts completed loads (and lease waits) per stripe of keys.
	// Take reads its key's counter before looking in Redis; the load it
	// starts after a miss looks in Redis again only if the counter moved,
	// that is, only if a load of this instance may have stored the value
	// after the miss was read. A miss thus costs two round trips, not
	// three, and still never loads a key twice in one instance.
	fills [fillStripes]atomic.Uint64

	local *localTier[V]

	down    atomic.Bool // the last Redis command failed
	probing atomic.Bool // a lookup is probing Redis during an outage
	// lastProbe is when the last probe ended, in nanoseconds since origin
	// on the monotonic clock.
	lastProbe atomic.Int64
	origin    time.Time
	// lastCorruptLog is when a corrupt value was last logged, in
	// nanoseconds since origin: at most one such line a second.
	lastCorruptLog atomic.Int64
	st             counters
}

// New returns a cache that keeps values of type V in rdb (a single node,
// Sentinel or Cluster client). rdb belongs to the caller: [Cache.Close]
// does not close it. Calls are bounded by their context and by rdb's own
// timeouts (DialTimeout, ReadTimeout, WriteTimeout, PoolTimeout); set
// ContextTimeoutEnabled on rdb so that a context deadline also bounds a
// command already sent to a server that stopped answering.
func New[V any](rdb redis.UniversalClient, opts ...Option) (*Cache[V], error) {
	if rdb == nil {
		return nil, errors.New("rediscache: nil Redis client")
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	c := &Cache[V]{rdb: rdb, cfg: cfg, rand: cfg.rand, seed: maphash.MakeSeed(), origin: time.Now()}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	c.codec = JSON[V]{}
	if cfg.codecSet {
		codec, ok := cfg.codec.(Codec[V])
		if !ok {
			return nil, fmt.Errorf("rediscache: codec %T does not encode the cache's value type %v", cfg.codec, reflect.TypeOf((*V)(nil)).Elem())
		}
		c.codec = codec
	}
	if cfg.localCap > 0 {
		c.local, err = newLocalTier[V](cfg.localCap, cfg.localTTL)
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Close releases the local tier. It does not close the Redis client. The
// cache must not be used after Close.
func (c *Cache[V]) Close() error {
	if c.local != nil {
		c.local.close()
	}
	return nil
}

// Stats returns a snapshot of the cache's counters.
func (c *Cache[V]) Stats() Stats {
	var local, hits int64
	for i := range c.st.hits {
		local += c.st.hits[i].local.Load()
		hits += c.st.hits[i].redis.Load()
	}
	return Stats{
		LocalHits:     local,
		Hits:          hits,
		NotFoundHits:  c.st.notFoundHits.Load(),
		Misses:        c.st.misses.Load(),
		Loads:         c.st.loads.Load(),
		LoadErrors:    c.st.loadErrors.Load(),
		Shared:        c.st.shared.Load(),
		Corrupt:       c.st.corrupt.Load(),
		RedisErrors:   c.st.redisErrors.Load(),
		LeasesWon:     c.st.leasesWon.Load(),
		LeaseWaits:    c.st.leaseWaits.Load(),
		LeaseTimeouts: c.st.leaseTimeouts.Load(),
		StaleServed:   c.st.staleServed.Load(),
		OutageSkips:   c.st.outageSkips.Load(),
		RedisDown:     c.down.Load(),
	}
}

// Take returns the value of key: from the local tier ([WithLocal]), from
// Redis, or from load, whose result is then stored in Redis for the TTL
// (or, for [ErrNotFound], a placeholder for the not-found TTL).
//
// Concurrent Takes of one key in the instance share one load, which runs
// on a goroutine of its own with a context that carries the values of the
// first caller's ctx but not its deadline or cancellation; each caller
// waits only as long as its own ctx allows, and the load's context is
// cancelled once every caller has left. (When the first caller's ctx can
// never end, as context.Background, the load runs on its goroutine with
// its ctx, which costs less and changes nothing it could observe.) Callers sharing a load get the
// same value (for a pointer or a map, the same one: do not modify it).
//
// Take returns [ErrNotFound] for a key the loader reported missing, until
// the placeholder expires; ctx.Err() when ctx ends first; an error
// matching [ErrUnavailable] when Redis fails and the policy is [FailFast];
// otherwise the loader's error. A panic in load is re-raised in every
// caller as a *[syncx.PanicError].
func (c *Cache[V]) Take(ctx context.Context, key string, load Loader[V]) (V, error) {
	var zero V
	if load == nil {
		return zero, errors.New("rediscache: nil Loader")
	}
	if c.local != nil {
		if e, ok := c.local.get(key); ok {
			c.st.hits[hitStripe()].local.Add(1)
			if e.notFound {
				c.st.notFoundHits.Add(1)
				return zero, ErrNotFound
			}
			return e.v, nil
		}
	}
	rkey := c.cfg.prefix + key
	stripe := c.stripe(rkey)
	seq := c.fills[stripe].Load()
	var epoch uint64
	if c.local != nil {
		epoch = c.local.epoch.Load()
	}
	now := c.cfg.clock.Now().UnixMilli()
	v, kind, exp, err := c.lookup(ctx, key, rkey, now)
	var stale V
	hasStale, down := false, false
	switch kind {
	case readFresh:
		c.st.hits[hitStripe()].redis.Add(1)
		c.keepLocal(key, v, false, exp-now, epoch)
		return v, nil
	case readNotFound:
		c.st.notFoundHits.Add(1)
		c.keepLocal(key, zero, true, c.cfg.notFoundTTL.Milliseconds(), epoch)
		return zero, ErrNotFound
	case readStale:
		stale, hasStale = v, true
	case readErr:
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		if c.cfg.policy == FailFast {
			return zero, err
		}
		down = true
	}
	c.st.misses.Add(1)
	// The job is made here, not before the switch, so that a hit does not
	// allocate it.
	return c.fill(ctx, &job[V]{c: c, key: key, rkey: rkey, load: load, stripe: stripe, seq: seq, epoch: epoch,
		down: down, stale: stale, hasStale: hasStale})
}

// outageFlight prefixes the single-flight keys of loads that skip Redis
// (LoadOnError during an outage), so that they never join a load stuck on
// a dead server, nor it them.
const outageFlight = "\x00outage\x00"

// fill runs j once per key at a time in the instance.
func (c *Cache[V]) fill(ctx context.Context, j *job[V]) (V, error) {
	flight := j.rkey
	if j.down {
		flight = outageFlight + flight
	}
	var v V
	var shared bool
	var err error
	if ctx.Done() == nil {
		// ctx never ends (context.Background and the like), so this
		// caller could never leave the load early: run it on this
		// goroutine, sparing the goroutine, the context and the channel
		// a detached load costs. Callers that can leave still join it
		// and leave as they please.
		v, shared, err = c.sf.Do(flight, func() (V, error) { return j.run(ctx) })
	} else {
		v, shared, err = c.sf.DoContext(ctx, flight, j.run)
	}
	if shared {
		c.st.shared.Add(1)
	}
	return v, err
}

// Get returns the value of key if Redis (or the local tier) holds a fresh
// one. It returns [ErrMiss] if not, [ErrNotFound] for a not-found
// placeholder, and an error matching [ErrUnavailable] when Redis fails. It
// never loads.
func (c *Cache[V]) Get(ctx context.Context, key string) (V, error) {
	var zero V
	if c.local != nil {
		if e, ok := c.local.get(key); ok {
			c.st.hits[hitStripe()].local.Add(1)
			if e.notFound {
				c.st.notFoundHits.Add(1)
				return zero, ErrNotFound
			}
			return e.v, nil
		}
	}
	var epoch uint64
	if c.local != nil {
		epoch = c.local.epoch.Load()
	}
	now := c.cfg.clock.Now().UnixMilli()
	v, kind, exp, err := c.lookup(ctx, key, c.cfg.prefix+key, now)
	switch kind {
	case readFresh:
		c.st.hits[hitStripe()].redis.Add(1)
		c.keepLocal(key, v, false, exp-now, epoch)
		return v, nil
	case readNotFound:
		c.st.notFoundHits.Add(1)
		return zero, ErrNotFound
	case readErr:
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		return zero, err
	}
	return zero, ErrMiss
}

// Set stores v under key for the TTL of [WithTTL] (jittered), replacing
// what was there, in Redis and in this instance's local tier. It returns
// the encoding or Redis error, if any; on a Redis error the local tier
// drops the key rather than keep a value Redis does not have.
func (c *Cache[V]) Set(ctx context.Context, key string, v V) error {
	return c.SetWithTTL(ctx, key, v, c.cfg.ttl)
}

// SetWithTTL is [Cache.Set] with a TTL of its own, between [MinTTL] and
// [MaxTTL] (jittered like every TTL).
func (c *Cache[V]) SetWithTTL(ctx context.Context, key string, v V, ttl time.Duration) error {
	if ttl < MinTTL || ttl > MaxTTL {
		return fmt.Errorf("rediscache: TTL must be between %v and %v, got %v", MinTTL, MaxTTL, ttl)
	}
	if c.local != nil {
		c.local.drop(key)
	}
	rkey := c.cfg.prefix + key
	now := c.cfg.clock.Now().UnixMilli()
	ttl = jittered(ttl, c.cfg.jitter, c.rand())
	err := c.write(ctx, rkey, v, now, ttl)
	c.sf.Forget(rkey)
	c.fills[c.stripe(rkey)].Add(1)
	if err != nil {
		if c.local != nil {
			c.local.drop(key)
		}
		if errors.Is(err, errEncode) {
			return err
		}
		return c.redisErr(ctx, key, err)
	}
	c.redisUp()
	if c.local != nil {
		// Set, not keepLocal: this value is the newest whatever happened
		// meanwhile, and a Set must replace an older local copy
		// (go-redis/cache#105 keeps it).
		c.local.set(key, localEntry[V]{v: v}, ttl)
	}
	return nil
}

// Delete removes keys from Redis and from this instance's local tier, and
// makes the next Take of each start a new load rather than join one in
// flight. Local tiers of other instances keep their copy until it expires
// (see [WithLocal]). It returns the Redis error, if any.
func (c *Cache[V]) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if c.local != nil {
		for _, k := range keys {
			c.local.drop(k)
		}
	}
	var err error
	if len(keys) == 1 {
		err = c.rdb.Del(ctx, c.cfg.prefix+keys[0]).Err()
	} else {
		// One DEL per key, pipelined: a multi-key DEL fails with
		// CROSSSLOT on a Cluster, while a pipeline is split by slot.
		_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Del(ctx, c.cfg.prefix+k)
			}
			return nil
		})
	}
	for _, k := range keys {
		rkey := c.cfg.prefix + k
		c.sf.Forget(rkey)
		c.fills[c.stripe(rkey)].Add(1)
		if c.local != nil {
			// Again, after the round trip: a Take that read the old value
			// before the DEL and stored it locally while it ran is undone.
			c.local.drop(k)
		}
	}
	if err != nil {
		return c.redisErr(ctx, keys[0], err)
	}
	c.redisUp()
	return nil
}

// redisErr turns a failed command into the error a caller gets, and counts
// and reports it unless it was the caller's own context that ended.
func (c *Cache[V]) redisErr(ctx context.Context, key string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.redisFailed(key, err)
	return unavailable(err)
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (c *Cache[V]) stripe(rkey string) uint32 {
	return uint32(maphash.String(c.seed, rkey) % fillStripes)
}

// readKind is what a look in Redis found.
type readKind uint8

const (
	readMiss readKind = iota
	readFresh
	readNotFound
	readStale
	readErr
)

// errOutage is what a lookup returns when it skipped Redis during an
// outage.
var errOutage = fmt.Errorf("%w: down (one call at a time probes it)", ErrUnavailable)

// maxProbe bounds the time a probe of a down Redis may take when the
// caller's context has no deadline; probeInterval is the least time
// between the end of a probe and the start of the next.
const (
	maxProbe      = time.Second
	probeInterval = 50 * time.Millisecond
)

// lookup is read behind the outage gate. While Redis is up, it is read.
// During an outage (the last command failed), one call at a time, and at
// most one every probeInterval, probes Redis, with at most half its
// remaining time (at most maxProbe), so that it keeps time for the policy;
// the others skip Redis and get errOutage at once, instead of each waiting
// for a dead server up to its timeout. A
// failure is counted and returned wrapped in ErrUnavailable, unless ctx
// ended.
func (c *Cache[V]) lookup(ctx context.Context, key, rkey string, now int64) (v V, kind readKind, exp int64, err error) {
	if !c.down.Load() {
		v, kind, exp, err = c.read(ctx, key, rkey, now)
	} else {
		pctx, ok := c.startProbe(ctx)
		if !ok {
			return v, readErr, 0, errOutage
		}
		v, kind, exp, err = c.read(pctx, key, rkey, now)
		c.endProbe(pctx)
	}
	if kind == readErr {
		if cerr := ctx.Err(); cerr != nil {
			// The caller's deadline passing while Redis has not answered
			// is Redis being slow; the caller leaving is not.
			if cerr == context.DeadlineExceeded {
				c.redisFailed(key, err)
			}
			return v, readErr, 0, cerr
		}
		c.redisFailed(key, err)
		return v, readErr, 0, unavailable(err)
	}
	return v, kind, exp, nil
}

// startProbe lets the caller probe a Redis that is down, with a context
// holding at most half the time ctx has left (at most maxProbe), if no
// other probe runs and the last ended at least probeInterval ago. A caller
// that may probe must call endProbe with the returned context; one that
// may not is counted as an outage skip.
func (c *Cache[V]) startProbe(ctx context.Context) (context.Context, bool) {
	if int64(time.Since(c.origin))-c.lastProbe.Load() < int64(probeInterval) || !c.probing.CompareAndSwap(false, true) {
		c.st.outageSkips.Add(1)
		return nil, false
	}
	d := maxProbe
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)/2)
	}
	pctx, cancel := context.WithTimeout(ctx, d)
	return probeCtx{pctx, cancel}, true
}

func (c *Cache[V]) endProbe(pctx context.Context) {
	pctx.(probeCtx).cancel()
	c.lastProbe.Store(int64(time.Since(c.origin)))
	c.probing.Store(false)
}

type probeCtx struct {
	context.Context
	cancel context.CancelFunc
}

// read looks rkey up in Redis. A corrupt record is deleted, counted and
// reported as a miss. For a value it returns its soft expiry.
func (c *Cache[V]) read(ctx context.Context, key, rkey string, now int64) (v V, kind readKind, exp int64, err error) {
	// GETRANGE 0 -1 rather than GET: it answers a missing key with an
	// empty string instead of nil, which go-redis turns into the redis.Nil
	// error and then examines for a retry at the cost of about 20
	// allocations. No record is empty, so an empty string is a miss.
	// The command is built here rather than with GetRange, whose int64
	// parameters cost an allocation each when boxed; constants do not.
	cmd := redis.NewStringCmd(ctx, "getrange", rkey, 0, -1)
	_ = c.rdb.Process(ctx, cmd)
	s, err := cmd.Result()
	if err != nil {
		return v, readErr, 0, err
	}
	c.redisUp()
	if s == "" {
		return v, readMiss, 0, nil
	}
	v, kind, exp, err = c.decode(s, now)
	if err != nil {
		c.corrupt(ctx, key, rkey, err)
		return v, readMiss, 0, nil
	}
	return v, kind, exp, nil
}

// decode parses a record read from Redis. A corrupt one is a miss with the
// error that makes it corrupt.
func (c *Cache[V]) decode(s string, now int64) (v V, kind readKind, exp int64, err error) {
	if s == placeholder {
		return v, readNotFound, 0, nil
	}
	if len(s) < headerLen || s[0] != tagValue {
		return v, readMiss, 0, fmt.Errorf("unknown record (%d bytes)", len(s))
	}
	// The record is only read here, and Decode must not keep or modify
	// it: decode the reply in place instead of copying it.
	b := bytesOf(s)
	exp = int64(binary.BigEndian.Uint64(b[1:headerLen]))
	v, err = c.codec.Decode(b[headerLen:])
	if err != nil {
		var zero V
		return zero, readMiss, 0, err
	}
	if now >= exp {
		return v, readStale, exp, nil
	}
	return v, readFresh, exp, nil
}

func (c *Cache[V]) corrupt(ctx context.Context, key, rkey string, err error) {
	c.st.corrupt.Add(1)
	derr := c.rdb.Del(ctx, rkey).Err()
	if derr != nil && ctx.Err() == nil {
		c.redisFailed(key, derr)
	}
	err = fmt.Errorf("rediscache: corrupt value: %w", err)
	if c.cfg.logger != nil {
		now, last := int64(time.Since(c.origin)), c.lastCorruptLog.Load()
		if (last == 0 || now-last >= int64(time.Second)) && c.lastCorruptLog.CompareAndSwap(last, now) {
			c.cfg.logger.Warn("rediscache: corrupt value deleted (logged at most once a second)", "key", key, "err", err,
				"corrupt_total", c.st.corrupt.Load())
		}
	}
	if c.cfg.hook != nil {
		c.cfg.hook(Event{Kind: EventCorrupt, Key: key, Err: err, Time: c.cfg.clock.Now()})
	}
}

// redisFailed counts a failed command and reports the start of an outage.
func (c *Cache[V]) redisFailed(key string, err error) {
	c.st.redisErrors.Add(1)
	if c.down.Load() || !c.down.CompareAndSwap(false, true) {
		return
	}
	if c.cfg.logger != nil {
		c.cfg.logger.Warn("rediscache: redis unavailable", "key", key, "err", err)
	}
	if c.cfg.hook != nil {
		c.cfg.hook(Event{Kind: EventRedisDown, Key: key, Err: err, Time: c.cfg.clock.Now()})
	}
}

// redisUp reports the end of an outage; it costs one atomic load otherwise.
func (c *Cache[V]) redisUp() {
	if !c.down.Load() || !c.down.CompareAndSwap(true, false) {
		return
	}
	if c.cfg.logger != nil {
		c.cfg.logger.Info("rediscache: redis available again")
	}
	if c.cfg.hook != nil {
		c.cfg.hook(Event{Kind: EventRedisUp, Time: c.cfg.clock.Now()})
	}
}

// buffers holds the buffers records are encoded into before a SET.
var buffers = sync.Pool{New: func() any { return new([]byte) }}

// write stores v under rkey, fresh for ttl from now and kept for the stale
// window after that.
func (c *Cache[V]) write(ctx context.Context, rkey string, v V, now int64, ttl time.Duration) error {
	bp := buffers.Get().(*[]byte)
	b, err := c.record((*bp)[:0], v, now, ttl.Milliseconds())
	if err == nil {
		// go-redis has written b to the connection when Set returns.
		err = c.rdb.Set(ctx, rkey, b, ttl+c.cfg.stale).Err()
	}
	if cap(b) <= maxPooledBuffer {
		*bp = b
		buffers.Put(bp)
	}
	return err
}

// errEncode wraps the errors of the codec's Append.
var errEncode = errors.New("rediscache: encode")

// record appends the record of v, fresh until now+ttlMs, to dst.
func (c *Cache[V]) record(dst []byte, v V, now, ttlMs int64) ([]byte, error) {
	dst = append(dst, tagValue, 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint64(dst[len(dst)-8:], uint64(now+ttlMs))
	n := len(dst)
	dst, err := c.codec.Append(dst, v)
	if err != nil {
		return dst[:n-headerLen], fmt.Errorf("%w: %w", errEncode, err)
	}
	return dst, nil
}

func (c *Cache[V]) keepLocal(key string, v V, notFound bool, ttlMs int64, epoch uint64) {
	if c.local == nil {
		return
	}
	ttl := time.Duration(ttlMs) * time.Millisecond
	if ttl <= 0 {
		return
	}
	c.local.keep(key, localEntry[V]{v: v, notFound: notFound}, ttl, epoch)
}

// job is one load of a key: the work behind Take's single flight.
type job[V any] struct {
	c      *Cache[V]
	key    string
	rkey   string
	load   Loader[V]
	stripe uint32
	seq    uint64 // c.fills[stripe] before the caller's read
	epoch  uint64 // the local tier's epoch before the caller's read

	down     bool // Redis failed and the policy is LoadOnError: do not use it
	stale    V
	hasStale bool
}

// run is the function of the single flight: look again if needed, take the
// lease if configured, load.
func (j *job[V]) run(ctx context.Context) (V, error) {
	c := j.c
	var zero V
	if !j.down && c.fills[j.stripe].Load() != j.seq {
		// A load of this instance may have stored the value since the
		// caller's miss.
		if v, err, done := j.look(ctx); done {
			return v, err
		}
	}
	if !j.down && c.cfg.leaseTTL > 0 {
		if v, err, done := j.lease(ctx); done {
			return v, err
		}
	}
	if ctx.Err() != nil {
		return zero, ctx.Err()
	}
	return j.loadAndStore(ctx)
}

// look reads the key again. done reports that v, err answer the call.
func (j *job[V]) look(ctx context.Context) (v V, err error, done bool) {
	c := j.c
	if c.down.Load() {
		return j.failed(ctx, errOutage)
	}
	now := c.cfg.clock.Now().UnixMilli()
	v, kind, exp, err := c.read(ctx, j.key, j.rkey, now)
	switch kind {
	case readFresh:
		c.fills[j.stripe].Add(1)
		c.keepLocal(j.key, v, false, exp-now, j.epoch)
		return v, nil, true
	case readNotFound:
		var zero V
		return zero, ErrNotFound, true
	case readStale:
		j.stale, j.hasStale = v, true
	case readErr:
		return j.failed(ctx, err)
	}
	return v, nil, false
}

// failed handles a Redis error met during the load: per the policy, give
// up or load without Redis.
func (j *job[V]) failed(ctx context.Context, err error) (v V, _ error, done bool) {
	if ctx.Err() != nil {
		return v, ctx.Err(), true
	}
	if err != errOutage {
		j.c.redisFailed(j.key, err)
		err = unavailable(err)
	}
	if j.c.cfg.policy == FailFast {
		return v, err, true
	}
	j.down = true
	return v, nil, false
}

// lease takes the key's lease and loads, or waits for the instance that
// holds it. done reports that v, err answer the call; otherwise the caller
// loads without the lease.
func (j *job[V]) lease(ctx context.Context) (v V, err error, done bool) {
	c := j.c
	lkey := j.rkey + leaseSuffix
	token := strconv.FormatUint(rand.Uint64(), 36)
	deadline := time.Now().Add(c.cfg.leaseWait)
	poll := minPoll
	for waited := false; ; waited = true {
		if c.down.Load() {
			return j.failed(ctx, errOutage)
		}
		won, err := c.rdb.SetNX(ctx, lkey, token, c.cfg.leaseTTL).Result()
		if err != nil {
			return j.failed(ctx, err)
		}
		if won {
			c.st.leasesWon.Add(1)
			v, err = j.underLease(ctx)
			// Release with a context of its own: the load's may have
			// been cancelled, and a lease left behind costs the fleet a
			// wait of up to the lease TTL.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.leaseTTL)
			_ = releaseScript.Run(rctx, c.rdb, []string{lkey}, token).Err()
			cancel()
			return v, err, true
		}
		if !waited {
			c.st.leaseWaits.Add(1)
			if j.hasStale {
				c.st.staleServed.Add(1)
				c.fills[j.stripe].Add(1)
				return j.stale, nil, true
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if !sleep(ctx, min(poll, left)) {
			return v, ctx.Err(), true
		}
		poll = min(2*poll, maxPoll)
		if v, err, done := j.look(ctx); done {
			c.fills[j.stripe].Add(1)
			return v, err, true
		}
	}
	c.st.leaseTimeouts.Add(1)
	if c.cfg.hook != nil {
		c.cfg.hook(Event{Kind: EventLeaseTimeout, Key: j.key, Time: c.cfg.clock.Now()})
	}
	return v, nil, false
}

// underLease loads a key whose lease this instance holds, after one more
// look: the previous holder may have stored the value and released the
// lease since this instance's last look.
func (j *job[V]) underLease(ctx context.Context) (V, error) {
	if v, err, done := j.look(ctx); done {
		return v, err
	}
	return j.loadAndStore(ctx)
}

// loadAndStore calls the loader and stores what it returns.
func (j *job[V]) loadAndStore(ctx context.Context) (V, error) {
	c := j.c
	var zero V
	c.st.loads.Add(1)
	v, err := j.load(ctx, j.key)
	switch {
	case errors.Is(err, ErrNotFound):
		if !j.down && !c.down.Load() && c.cfg.notFoundTTL > 0 {
			ttl := jittered(c.cfg.notFoundTTL, c.cfg.jitter, c.rand())
			// NX: a value another writer stored meanwhile beats the
			// absence the loader saw.
			if _, werr := c.rdb.SetNX(ctx, j.rkey, placeholder, ttl).Result(); werr != nil {
				_ = c.redisErr(ctx, j.key, werr)
			}
			c.keepLocal(j.key, zero, true, ttl.Milliseconds(), j.epoch)
		}
		c.fills[j.stripe].Add(1)
		return zero, ErrNotFound
	case err != nil:
		c.st.loadErrors.Add(1)
		if j.hasStale && ctx.Err() == nil {
			c.st.staleServed.Add(1)
			return j.stale, nil
		}
		return zero, err
	}
	// During an outage, writing would only wait for the client's timeouts;
	// lookups probe Redis instead.
	if !j.down && !c.down.Load() {
		now := c.cfg.clock.Now().UnixMilli()
		ttl := jittered(c.cfg.ttl, c.cfg.jitter, c.rand())
		if werr := c.write(ctx, j.rkey, v, now, ttl); werr != nil {
			_ = c.redisErr(ctx, j.key, werr)
		} else {
			c.keepLocal(j.key, v, false, ttl.Milliseconds(), j.epoch)
		}
	}
	c.fills[j.stripe].Add(1)
	return v, nil
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
