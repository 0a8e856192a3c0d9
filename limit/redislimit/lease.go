package redislimit

import (
	"sync"
	"time"
)

// leases holds, per key, the tokens an instance leased from Redis and not yet
// spent, and the last denial until its retry-after (WithLease).
type leases struct {
	mu  sync.Mutex            // guards m
	m   map[string]leaseEntry // values, not pointers: an update allocates nothing
	max int
	ttl time.Duration // how long leased tokens may be spent
}

type leaseEntry struct {
	tokens      int   // leased tokens left
	remaining   int   // tokens the bucket had left when they were leased
	expires     int64 // leased tokens are dropped then, unix ns on the limiter's clock
	deniedN     int   // a call for at least this many tokens is denied...
	deniedUntil int64 // ...until then, unix ns
}

func newLeases(maxKeys int, ttl time.Duration) *leases {
	return &leases{m: make(map[string]leaseEntry), max: maxKeys, ttl: ttl}
}

// take decides a call for n tokens locally if it can: from leased tokens, or
// by a remembered denial that still holds for n.
func (s *leases) take(key string, n int, now time.Time) (Result, bool) {
	t := now.UnixNano()
	s.mu.Lock()
	e, ok := s.m[key]
	if !ok {
		s.mu.Unlock()
		return Result{}, false
	}
	if e.deniedN > 0 && n >= e.deniedN && t < e.deniedUntil {
		s.mu.Unlock()
		d := time.Duration(e.deniedUntil - t)
		return Result{RetryAfter: d, ResetAfter: d}, true
	}
	if e.tokens >= n && t < e.expires {
		e.tokens -= n
		s.m[key] = e
		s.mu.Unlock()
		return Result{Allowed: true, Remaining: e.tokens + e.remaining}, true
	}
	s.mu.Unlock()
	return Result{}, false
}

// put records what Redis answered a call for n tokens.
func (s *leases) put(key string, r reply, n int, now time.Time) {
	t := now.UnixNano()
	var e leaseEntry
	switch {
	case r.allowed && int(r.taken) > n:
		e = leaseEntry{tokens: int(r.taken) - n, remaining: int(r.remaining), expires: t + int64(s.ttl)}
	case !r.allowed && r.retry > 0 && r.retry <= int64(s.ttl/time.Microsecond):
		// Remembered no longer than a lease lives: a longer retry-after is
		// asked again rather than trusted for long.
		e = leaseEntry{deniedN: n, deniedUntil: t + int64(usec(r.retry))}
	default:
		s.mu.Lock()
		delete(s.m, key)
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	if _, ok := s.m[key]; !ok && len(s.m) >= s.max {
		// Full: start over. Dropping leases only wastes tokens; dropping a
		// remembered denial only costs a round trip.
		clear(s.m)
	}
	s.m[key] = e
	s.mu.Unlock()
}

func (s *leases) clear() {
	s.mu.Lock()
	clear(s.m)
	s.mu.Unlock()
}
