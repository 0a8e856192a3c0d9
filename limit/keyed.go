package limit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is the key cap of a [Keyed] unless [WithMaxKeys] says
// otherwise.
const DefaultMaxKeys = 100_000

// MaxKeys is the largest key cap.
const MaxKeys = 1 << 30

// DefaultIdleTimeout is how long a key of a [Keyed] stays after it is back
// at its full quota, unless [WithIdleTimeout] says otherwise.
const DefaultIdleTimeout = time.Minute

// Limiter is a limiter of this package that decides for one stream of
// requests: [*TokenBucket], [*FixedWindow] or [*SlidingWindow]. [NewKeyed]
// gives every key a limiter shaped like one of them. The interface is
// sealed: other types cannot implement it.
type Limiter interface {
	Allow() bool
	AllowN(now time.Time, n int) (Result, error)
	newStore(seed maphash.Seed, cfg keyedConfig) keyedStore
}

// KeyedOption configures [NewKeyed]: [WithMaxKeys], [WithIdleTimeout],
// [WithCapHook].
type KeyedOption interface {
	applyKeyed(*keyedConfig)
}

type keyedConfig struct {
	maxKeys int
	idle    time.Duration
	hook    func(KeyedStats)
	hookSet bool
}

type capHookOption func(KeyedStats)

// WithCapHook sets a function told when the key cap pushes out a key that
// was not back at its full quota (that key starts afresh on its next
// request): the cap is too small for the traffic, or someone is cycling
// through addresses. It is called with the stats of the moment, outside any
// lock, on the goroutine of the request that caused it, at most once a
// second; it should return quickly. A nil f is refused.
func WithCapHook(f func(KeyedStats)) KeyedOption { return capHookOption(f) }

func (o capHookOption) applyKeyed(c *keyedConfig) { c.hook, c.hookSet = o, true }

type idleOption time.Duration

// WithIdleTimeout sets how long a key of a [Keyed] is kept once its limiter
// is back at its full quota, between 0 and [MaxRefill] (default
// [DefaultIdleTimeout]). Forgetting such a key loses nothing, since a new
// limiter starts at full quota too; the timeout only spares a key that comes
// back often the cost of being added again.
func WithIdleTimeout(d time.Duration) KeyedOption { return idleOption(d) }

func (o idleOption) applyKeyed(c *keyedConfig) { c.idle = time.Duration(o) }

type maxKeysOption int

// WithMaxKeys caps the number of keys a [Keyed] holds, between 1 and
// [MaxKeys] (default [DefaultMaxKeys]). The cap is hard: a new key beyond it
// first pushes out a key back at its full quota (forgetting it loses
// nothing), else the key closest to full among a few sampled, which then
// starts afresh on its next request (counted in [KeyedStats.Displaced]).
func WithMaxKeys(n int) KeyedOption { return maxKeysOption(n) }

func (o maxKeysOption) applyKeyed(c *keyedConfig) { c.maxKeys = int(o) }

// KeyedStats is a snapshot of a [Keyed].
type KeyedStats struct {
	Keys      int   // keys held now
	Evicted   int64 // keys forgotten because they were back at their full quota
	Displaced int64 // keys pushed out by the key cap before they were back at full quota
}

// Keyed is a limiter per key (per client address, user, tenant), each
// shaped like the [Limiter] it was made from and sharing its settings:
// [TokenBucket.SetRate] on that bucket changes every key.
//
// Memory is bounded by a hard key cap ([WithMaxKeys]). A key is forgotten
// once its limiter has been back at its full quota for the idle timeout
// ([WithIdleTimeout]), since it then holds no information; this happens a
// few keys at a time while new keys are added,
// so there is no sweeper goroutine and nothing ever walks the whole table
// while requests wait. Times are 64-bit nanoseconds of the monotonic clock:
// nothing wraps around.
//
// A key is known by a 64-bit hash of it, seeded at random for each Keyed:
// the table holds no copy of the key, and a lookup compares no bytes. Two
// keys share a limiter only if their hashes collide, which for n keys
// happens with a probability of about n²/2⁶⁵ (3×10⁻¹⁰ for 100,000 keys)
// and cannot be aimed at, since the seed is never revealed.
//
// Keys are spread over shards, each with its own read-write lock; a request
// for a known key takes its shard's read lock and then works on the key's
// own state (one atomic word for a token bucket), so a hot key never holds
// a lock another key needs for longer than a table lookup. Each shard's
// table is open-addressed: a slot holds the hash beside a pointer to the
// state, so a lookup for a known key most often reads one cache line.
// Memory per key, measured on amd64 with the table included
// (TestKeyedMemoryPerKey): 32 bytes with a token bucket, 73 with a fixed
// window, 137 with a sliding window of 10 slots, under Go 1.22 and 1.26
// alike.
//
// A Keyed is safe for concurrent use by multiple goroutines and starts no
// goroutine. It implements [KeyedLimiter].
type Keyed struct {
	s    keyedStore
	seed maphash.Seed // the store's
}

// hash hashes a key held in b as the store hashes the same key as a string
// (maphash gives both the same hash), so the middleware need not make a
// string of the address it formats.
func (k *Keyed) hash(b []byte) uint64 { return maphash.Bytes(k.seed, b) }

// NewKeyed returns a limiter per key shaped like l, holding at most
// [WithMaxKeys] keys. l's own state is not used.
func NewKeyed(l Limiter, opts ...KeyedOption) (*Keyed, error) {
	if l == nil {
		return nil, fmt.Errorf("limit: nil Limiter")
	}
	cfg := keyedConfig{maxKeys: DefaultMaxKeys, idle: DefaultIdleTimeout}
	for _, o := range opts {
		if o != nil {
			o.applyKeyed(&cfg)
		}
	}
	if cfg.maxKeys < 1 || cfg.maxKeys > MaxKeys {
		return nil, fmt.Errorf("limit: max keys must be between 1 and %d, got %d", MaxKeys, cfg.maxKeys)
	}
	if cfg.hookSet && cfg.hook == nil {
		return nil, fmt.Errorf("limit: nil cap hook")
	}
	if cfg.idle < 0 || cfg.idle > MaxRefill {
		return nil, fmt.Errorf("limit: idle timeout must be between 0 and %v, got %v", MaxRefill, cfg.idle)
	}
	seed := maphash.MakeSeed()
	st := l.newStore(seed, cfg)
	if st == nil { // a typed nil, such as the *TokenBucket of a failed constructor
		return nil, fmt.Errorf("limit: nil Limiter")
	}
	return &Keyed{s: st, seed: seed}, nil
}

// AllowN takes n units of key's quota if they are available. It returns
// an error only for an n below 0 or above the quota (matching
// [ErrInvalidCost]); ctx is not used, the call never blocks.
func (k *Keyed) AllowN(_ context.Context, key string, n int) (Result, error) {
	return k.s.allowN(key, n, 0, false)
}

// AllowAt is AllowN at time now instead of the clock's time.
func (k *Keyed) AllowAt(now time.Time, key string, n int) (Result, error) {
	return k.s.allowN(key, n, k.s.at(now), true)
}

// Allow reports whether key may make one request now, and counts it if so.
func (k *Keyed) Allow(key string) bool {
	r, _ := k.s.allowN(key, 1, 0, false)
	return r.Allowed
}

// Len returns the number of keys held.
func (k *Keyed) Len() int { return k.s.stats().Keys }

// Stats returns a snapshot of the key table.
func (k *Keyed) Stats() KeyedStats { return k.s.stats() }

// Prune forgets every key back at its full quota now and returns how many
// it forgot. Keys are forgotten anyway a few at a time as new keys arrive;
// Prune is for a caller that wants the memory back at once (from its own
// ticker, say). It locks one shard at a time.
func (k *Keyed) Prune() int { return k.s.prune() }

type keyedStore interface {
	allowN(key string, n int, now int64, haveNow bool) (Result, error)
	// allowHashed is allowN, now, for the key of hash h.
	allowHashed(h uint64, n int) (Result, error)
	at(time.Time) int64
	stats() KeyedStats
	prune() int
}

// algo is the per-key algorithm of a store: S is the state of one key.
type algo[S any] interface {
	now() int64
	at(time.Time) int64
	check(n int) (Result, error)
	init(*S)
	// allow decides; false: the state is dead (evicted), nothing taken.
	allow(st *S, now int64, n int) (Result, bool)
	// kill marks st dead if it has been at its full quota since now-idle
	// or earlier, or in any case when force is set, and reports whether it
	// did.
	kill(st *S, now, idle int64, force bool) bool
	// debt ranks st for displacement: how far from full it is, ns.
	debt(st *S, now int64) int64
}

// maxShards bounds the shards of a store: a table of 100,000 keys has 256.
const maxShards = 256

const (
	sweepBatch  = 8  // keys a new key looks at, to forget those back at full quota
	sampleBatch = 16 // keys sampled to pick one to displace at the key cap
)

// shard is 128 bytes: a hot key's read lock writes its shard's reader
// count, and cores fetch cache lines in pairs, so a neighbouring shard 64
// bytes away would share the traffic.
type shard[S any] struct {
	mu sync.RWMutex
	t  table[S] // guarded by mu; keyed by the hash of the key
	_  [128 - 24 - 40]byte
}

type store[S any] struct {
	a         algo[S]
	seed      maphash.Seed
	shards    []shard[S]
	mask      uint64
	max       int64
	idle      int64
	n         atomic.Int64 // keys held; at most max
	evicted   atomic.Int64
	displaced atomic.Int64
	next      atomic.Uint64 // round-robin start for displacing from other shards
	hook      func(KeyedStats)
	lastHook  atomic.Int64 // time of the last hook call, ns; math.MinInt64: never
}

func newStore[S any](a algo[S], seed maphash.Seed, cfg keyedConfig) *store[S] {
	// Enough shards that a hot key shares its lock with few others, few
	// enough that a small table stays small.
	ns := 1
	for ns < maxShards && ns*64 < cfg.maxKeys {
		ns <<= 1
	}
	s := &store[S]{a: a, seed: seed, shards: make([]shard[S], ns), mask: uint64(ns - 1), max: int64(cfg.maxKeys), idle: int64(cfg.idle), hook: cfg.hook}
	s.lastHook.Store(math.MinInt64)
	return s
}

func (s *store[S]) at(t time.Time) int64 { return s.a.at(t) }

func (s *store[S]) allowN(key string, n int, now int64, haveNow bool) (Result, error) {
	if !haveNow {
		now = s.a.now()
	}
	return s.allowHash(maphash.String(s.seed, key), n, now)
}

func (s *store[S]) allowHashed(h uint64, n int) (Result, error) {
	return s.allowHash(h, n, s.a.now())
}

func (s *store[S]) allowHash(h uint64, n int, now int64) (Result, error) {
	if r, err := s.a.check(n); err != nil {
		return r, err
	}
	sh := &s.shards[h>>56&s.mask]
	for {
		sh.mu.RLock()
		st := sh.t.get(h)
		sh.mu.RUnlock()
		if st == nil {
			st = s.insert(sh, h, now)
		}
		if r, ok := s.a.allow(st, now, n); ok {
			return r, nil
		}
		// Evicted between the lookup and the decision: nothing was taken
		// from the dead state; look the key up again.
	}
}

// insert returns the state of the key of hash h, adding it if it is
// missing.
func (s *store[S]) insert(sh *shard[S], h uint64, now int64) *S {
	for {
		sh.mu.Lock()
		if st := sh.t.get(h); st != nil {
			sh.mu.Unlock()
			return st
		}
		s.sweep(sh, now, sweepBatch)
		if s.reserve() {
			st := new(S)
			s.a.init(st)
			sh.t.put(h, st)
			sh.mu.Unlock()
			return st
		}
		ok, live := s.displace(sh, now)
		sh.mu.Unlock()
		if !ok {
			live = s.displaceElsewhere(now)
		}
		if live {
			s.tell(now)
		}
	}
}

// tell calls the cap hook, at most once a second.
func (s *store[S]) tell(now int64) {
	if s.hook == nil {
		return
	}
	last := s.lastHook.Load()
	if last != math.MinInt64 && now-last < int64(time.Second) && now >= last {
		return
	}
	if s.lastHook.CompareAndSwap(last, now) {
		s.hook(s.stats())
	}
}

func (s *store[S]) reserve() bool {
	for {
		c := s.n.Load()
		if c >= s.max {
			return false
		}
		if s.n.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// sweep forgets up to limit keys of sh that are back at full quota, looking
// at no more than limit keys, from where the last look ended. Under sh.mu.
func (s *store[S]) sweep(sh *shard[S], now int64, limit int) int {
	t := &sh.t
	if t.n == 0 {
		return 0
	}
	mask := len(t.slots) - 1
	i := t.pos & mask
	// A table left sparse by deletions is not walked end to end for a few
	// keys: a sweep looks at no more than 8 slots per key it may forget.
	steps := len(t.slots)
	if limit <= steps/8 {
		steps = 8 * limit
	}
	seen, gone := 0, 0
	for step := 0; step < steps && seen < limit; {
		st := t.slots[i].st
		if st == nil {
			i, step = (i+1)&mask, step+1
			continue
		}
		seen++
		if s.a.kill(st, now, s.idle, false) {
			// A key from further on may have moved into slot i: look
			// at it again.
			t.del(i)
			gone++
			continue
		}
		i, step = (i+1)&mask, step+1
	}
	t.pos = i
	if gone > 0 {
		s.n.Add(int64(-gone))
		s.evicted.Add(int64(gone))
	}
	return gone
}

// displace pushes out the key of sh closest to its full quota among a few
// sampled, and reports whether it found one and whether that key was not
// yet back at full quota. Under sh.mu.
func (s *store[S]) displace(sh *shard[S], now int64) (ok, live bool) {
	t := &sh.t
	if t.n == 0 {
		return false, false
	}
	mask := len(t.slots) - 1
	i := t.pos & mask
	victim := -1
	best := int64(0)
	seen := 0
	for step := 0; step < len(t.slots) && seen < sampleBatch; step++ {
		if st := t.slots[i].st; st != nil {
			seen++
			d := s.a.debt(st, now)
			if victim < 0 || d < best {
				victim, best = i, d
			}
		}
		i = (i + 1) & mask
	}
	t.pos = i
	full := best <= 0
	s.a.kill(t.slots[victim].st, now, 0, true)
	t.del(victim)
	s.n.Add(-1)
	if full {
		s.evicted.Add(1)
	} else {
		s.displaced.Add(1)
	}
	return true, !full
}

// displaceElsewhere makes room in some other shard; it is called holding no
// lock, when the shard of a new key holds none to push out. It reports
// whether the key pushed out was not yet back at full quota.
func (s *store[S]) displaceElsewhere(now int64) bool {
	start := s.next.Add(1)
	for i := range uint64(len(s.shards)) {
		sh := &s.shards[(start+i)&s.mask]
		sh.mu.Lock()
		ok, live := s.displace(sh, now)
		sh.mu.Unlock()
		if ok {
			return live
		}
	}
	return false
}

func (s *store[S]) stats() KeyedStats {
	return KeyedStats{Keys: int(s.n.Load()), Evicted: s.evicted.Load(), Displaced: s.displaced.Load()}
}

func (s *store[S]) prune() int {
	now := s.a.now()
	total := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		total += s.sweep(sh, now, math.MaxInt)
		sh.mu.Unlock()
	}
	return total
}

// The algorithms.

type tokenKey struct{ tat atomic.Int64 }

type tokenAlgo struct{ s *tokenShared }

func (a tokenAlgo) now() int64           { return a.s.tb.now() }
func (a tokenAlgo) at(t time.Time) int64 { return a.s.tb.at(t) }
func (a tokenAlgo) init(st *tokenKey)    { st.tat.Store(tatFull) }

func (a tokenAlgo) check(n int) (Result, error) {
	p := a.s.params.Load()
	if err := checkCost(n, p.burst, "burst"); err != nil {
		return never(p.burst, time.Duration(p.tau)), err
	}
	return Result{}, nil
}

func (a tokenAlgo) allow(st *tokenKey, now int64, n int) (Result, bool) {
	return allowToken(&st.tat, a.s.params.Load(), now, n)
}

func (a tokenAlgo) kill(st *tokenKey, now, idle int64, force bool) bool {
	for {
		old := st.tat.Load()
		if old == tatDead || (!force && old > now-idle) {
			return false
		}
		if st.tat.CompareAndSwap(old, tatDead) {
			return true
		}
	}
}

func (a tokenAlgo) debt(st *tokenKey, now int64) int64 { return st.tat.Load() - now }

func (b *TokenBucket) newStore(seed maphash.Seed, cfg keyedConfig) keyedStore {
	if b == nil {
		return nil
	}
	return newStore[tokenKey](tokenAlgo{b.s}, seed, cfg)
}

type fixedAlgo struct{ s *fixedShared }

func (a fixedAlgo) now() int64           { return a.s.tb.now() }
func (a fixedAlgo) at(t time.Time) int64 { return a.s.tb.at(t) }
func (a fixedAlgo) init(st *fixedState)  { st.end = math.MinInt64 }
func (a fixedAlgo) allow(st *fixedState, now int64, n int) (Result, bool) {
	return a.s.allow(st, now, n)
}

func (a fixedAlgo) check(n int) (Result, error) {
	if err := checkCost(n, a.s.quota, "quota"); err != nil {
		return never(a.s.quota, time.Duration(a.s.period)), err
	}
	return Result{}, nil
}

func (a fixedAlgo) kill(st *fixedState, now, idle int64, force bool) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dead || (!force && !fixedFull(st, now-idle)) {
		return false
	}
	st.dead = true
	return true
}

func (a fixedAlgo) debt(st *fixedState, now int64) int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	if fixedFull(st, now) {
		return 0
	}
	return st.end - now
}

func (w *FixedWindow) newStore(seed maphash.Seed, cfg keyedConfig) keyedStore {
	if w == nil {
		return nil
	}
	return newStore[fixedState](fixedAlgo{w.s}, seed, cfg)
}

type slidingAlgo struct{ s *slidingShared }

func (a slidingAlgo) now() int64            { return a.s.tb.now() }
func (a slidingAlgo) at(t time.Time) int64  { return a.s.tb.at(t) }
func (a slidingAlgo) init(st *slidingState) { a.s.init(st) }
func (a slidingAlgo) allow(st *slidingState, now int64, n int) (Result, bool) {
	return a.s.allow(st, now, n)
}

func (a slidingAlgo) check(n int) (Result, error) {
	if err := checkCost(n, a.s.quota, "quota"); err != nil {
		return never(a.s.quota, time.Duration(a.s.window)), err
	}
	return Result{}, nil
}

func (a slidingAlgo) kill(st *slidingState, now, idle int64, force bool) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dead || (!force && !a.s.full(st, now-idle)) {
		return false
	}
	st.dead = true
	return true
}

func (a slidingAlgo) debt(st *slidingState, now int64) int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	if a.s.full(st, now) {
		return 0
	}
	return (st.head+1)*a.s.slot + a.s.window - now
}

func (w *SlidingWindow) newStore(seed maphash.Seed, cfg keyedConfig) keyedStore {
	if w == nil {
		return nil
	}
	return newStore[slidingState](slidingAlgo{w.s}, seed, cfg)
}
