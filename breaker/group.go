package breaker

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Group holds one [Breaker] per name (per host, per index, per tenant),
// each created on first use with the group's options and named by its key.
// It holds at most a bounded number of breakers ([WithMaxBreakers]),
// evicting the least recently used one when a new name would exceed it,
// and drops those unused for the idle timeout ([WithIdleTimeout]). It has
// no goroutine: breakers are evicted and dropped when a new name arrives.
//
// A breaker is used when a call asks it for admission ([Breaker.Allow],
// [Breaker.Do], ...), admitted or rejected; creating it counts as a use,
// looking it up does not. Eviction takes the breaker whose last use is the
// oldest, so a breaker busy throttling a failing host is never evicted in
// favour of an idle one. Uses are told apart to 10 µs: two uses less than
// that apart may count as simultaneous, so that parallel calls on a busy
// breaker do not all write its last-use time.
//
// Looking up an existing breaker takes no lock and does not allocate. A
// new name costs O(1) amortised: it goes into an index under a lock, and
// the lock-free snapshot of that index is republished once the lookups
// that missed it reach the number of breakers held (so a name just added
// takes the lock on its first lookups, at most that many times in all).
//
// A Group is safe for concurrent use by multiple goroutines.
type Group struct {
	cfg    config
	origin time.Time // the group's time zero on its clock

	// read is a snapshot of all, read without a lock. It may lack names
	// added since it was published and hold breakers dropped since.
	read atomic.Pointer[map[string]*Breaker]
	n    atomic.Int64 // len(all), for Len

	mu        sync.Mutex          // guards the fields below
	all       map[string]*Breaker // every breaker held
	misses    int                 // lookups that missed read since it was published
	cands     []candidate         // eviction candidates, least recently used first
	next      int                 // cands[next:] are still to be tried
	lastSweep int64               // when idle breakers were last dropped, ns since origin
}

// lastUse returns when b was last used, in ns since the group's origin.
func (b *Breaker) lastUse() int64 { return b.base + b.used.Load() }

// candidate is a breaker that was among the least recently used three
// quarters of the group when the candidates were taken, with its last use
// then.
type candidate struct {
	name string
	b    *Breaker
	used int64
}

// NewGroup returns an empty group whose breakers are configured by opts:
// breaker options apply to every breaker, keyed options to the group.
func NewGroup(opts ...GroupOption) (*Group, error) {
	c, err := build(opts, GroupOption.applyGroup)
	if err != nil {
		return nil, err
	}
	return newGroup(c), nil
}

func newGroup(c config) *Group {
	g := &Group{cfg: c, all: map[string]*Breaker{}}
	if c.clock != nil {
		g.origin = c.clock.Now()
	} else {
		g.origin = time.Now()
	}
	g.read.Store(&map[string]*Breaker{})
	return g
}

// elapsed returns the time since the group's origin, in ns.
func (g *Group) elapsed() int64 {
	if g.cfg.clock != nil {
		return int64(g.cfg.clock.Now().Sub(g.origin))
	}
	return int64(time.Since(g.origin))
}

// Get returns the breaker named name, creating it if there is none.
func (g *Group) Get(name string) *Breaker {
	if b := (*g.read.Load())[name]; b != nil && !b.dropped.Load() {
		return b
	}
	return g.add(name)
}

func (g *Group) add(name string) *Breaker {
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.miss()
	if b := g.all[name]; b != nil {
		return b
	}
	now := g.elapsed()
	if now-g.lastSweep >= int64(g.cfg.idle) {
		g.sweep(now)
	}
	for len(g.all) >= g.cfg.maxBreakers {
		g.evict()
	}
	b := newBreaker(&g.cfg, name)
	b.base = int64(b.start.Sub(g.origin))
	b.track = true
	g.all[name] = b
	g.n.Store(int64(len(g.all)))
	return b
}

// miss counts a lookup that did not find its name in the snapshot, and
// republishes the snapshot once the misses pay for the copy. Called under
// mu.
func (g *Group) miss() {
	g.misses++
	if g.misses >= len(g.all) {
		m := maps.Clone(g.all)
		g.read.Store(&m)
		g.misses = 0
	}
}

// drop removes a breaker from the group. Called under mu.
func (g *Group) drop(name string, b *Breaker) {
	b.dropped.Store(true)
	delete(g.all, name)
	g.n.Store(int64(len(g.all)))
}

// sweep drops the breakers unused for the idle timeout. It looks at every
// breaker, so it runs at most once per idle timeout. Called under mu.
func (g *Group) sweep(now int64) {
	g.lastSweep = now
	for name, b := range g.all {
		if now-b.lastUse() >= int64(g.cfg.idle) {
			g.drop(name, b)
		}
	}
}

// evict drops the least recently used breaker. Called under mu, with the
// group not empty.
//
// The candidates are the least recently used three quarters of the group,
// sorted by last use when they were taken. A candidate used since then is skipped.
// One that was not is the least recently used breaker of the group: every
// breaker that was not a candidate was used at least as recently when the
// candidates were taken, and a breaker created since then later still.
// Taking the candidates costs O(n log n) for up to 3n/4 evictions, so an
// eviction costs O(log n) amortised.
func (g *Group) evict() {
	for {
		if g.next == len(g.cands) {
			g.takeCandidates()
		}
		c := g.cands[g.next]
		g.cands[g.next] = candidate{}
		g.next++
		if g.all[c.name] != c.b || c.b.lastUse() != c.used {
			continue // dropped, or used since
		}
		g.drop(c.name, c.b)
		return
	}
}

func (g *Group) takeCandidates() {
	cands := g.cands[:0]
	for name, b := range g.all {
		cands = append(cands, candidate{name: name, b: b, used: b.lastUse()})
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		switch {
		case a.used < b.used:
			return -1
		case a.used > b.used:
			return 1
		}
		return 0
	})
	keep := max(len(cands)*3/4, 1)
	clear(cands[keep:])
	g.cands, g.next = cands[:keep], 0
}

// Len returns how many breakers the group holds.
func (g *Group) Len() int { return int(g.n.Load()) }

// Names returns the names of the breakers the group holds, in no
// particular order.
func (g *Group) Names() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	names := make([]string, 0, len(g.all))
	for k := range g.all {
		names = append(names, k)
	}
	return names
}

// Do is [Breaker.Do] on the breaker named name.
func (g *Group) Do(ctx context.Context, name string, fn func(context.Context) error) error {
	return g.Get(name).Do(ctx, fn)
}

// DoWithFallback is [Breaker.DoWithFallback] on the breaker named name.
func (g *Group) DoWithFallback(ctx context.Context, name string, fn func(context.Context) error, fallback func(context.Context, error) error) error {
	return g.Get(name).DoWithFallback(ctx, fn, fallback)
}
