package breaker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Group holds one [Breaker] per name (per host, per index, per tenant),
// each created on first use with the group's options and named by its key.
// It holds at most a bounded number of breakers ([WithMaxBreakers]) and
// drops those unused for the idle timeout ([WithIdleTimeout]). It has no
// goroutine: idle breakers are dropped when a new name arrives.
//
// A Group is meant for names that recur, such as hosts and indexes, from a
// handful to a few thousand: looking up an existing breaker takes no lock
// and does not allocate, while a new name copies the group's index.
//
// A Group is safe for concurrent use by multiple goroutines.
type Group struct {
	cfg       config
	breakers  atomic.Pointer[map[string]*Breaker] // copied on write under mu
	mu        sync.Mutex                          // serialises adding and dropping breakers
	lastSweep time.Time                           // guarded by mu
}

// NewGroup returns an empty group whose breakers are configured by opts:
// breaker options apply to every breaker, group options to the group.
func NewGroup(opts ...GroupOption) (*Group, error) {
	c, err := build(opts, GroupOption.applyGroup)
	if err != nil {
		return nil, err
	}
	return newGroup(c), nil
}

func newGroup(c config) *Group {
	g := &Group{cfg: c}
	m := map[string]*Breaker{}
	g.breakers.Store(&m)
	g.lastSweep = g.now()
	return g
}

func (g *Group) now() time.Time {
	if g.cfg.clock != nil {
		return g.cfg.clock.Now()
	}
	return time.Now()
}

// Get returns the breaker named name, creating it if there is none.
func (g *Group) Get(name string) *Breaker {
	if b, ok := (*g.breakers.Load())[name]; ok {
		return b
	}
	return g.add(name)
}

func (g *Group) add(name string) *Breaker {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := *g.breakers.Load()
	if b, ok := old[name]; ok {
		return b
	}
	now := g.now()
	m := make(map[string]*Breaker, len(old)+1)
	sweep := len(old) >= g.cfg.maxBreakers || now.Sub(g.lastSweep) >= g.cfg.idle
	if sweep {
		g.lastSweep = now
	}
	var oldest string
	var oldestIdle time.Duration = -1
	for k, b := range old {
		idle := b.idle(now)
		if sweep && idle >= g.cfg.idle {
			continue
		}
		m[k] = b
		if idle > oldestIdle {
			oldest, oldestIdle = k, idle
		}
	}
	if len(m) >= g.cfg.maxBreakers {
		delete(m, oldest)
	}
	b := newBreaker(&g.cfg, name)
	m[name] = b
	g.breakers.Store(&m)
	return b
}

// idle returns how long the breaker has gone without a call, to within a
// bucket (it errs on the short side).
func (b *Breaker) idle(now time.Time) time.Duration {
	return max(now.Sub(b.start)-time.Duration(b.cur.Load().end.Load()), 0)
}

// Len returns how many breakers the group holds.
func (g *Group) Len() int { return len(*g.breakers.Load()) }

// Names returns the names of the breakers the group holds, in no
// particular order.
func (g *Group) Names() []string {
	m := *g.breakers.Load()
	names := make([]string, 0, len(m))
	for k := range m {
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
