package syncx

import (
	"context"
	"sync"
)

// LockedCalls runs calls with the same key one after another. Unlike
// [SingleFlight], nothing is shared: every caller runs its own function and
// gets its own result, but never while another function for the same key is
// running. Calls with different keys run in parallel. Callers waiting for a
// key queue on a channel, which serves them in the order they blocked, so
// none starves.
//
// A key takes memory only while someone holds or waits for it, so the set of
// keys may be unbounded.
//
// The zero value is ready to use. A LockedCalls is safe for concurrent use
// by multiple goroutines and must not be copied after first use.
type LockedCalls[K comparable, V any] struct {
	mu sync.Mutex         // guards m and the refs of its entries
	m  map[K]*lockedEntry // keys held or waited for; lazily made

	// entries recycles lockedEntry values, with their channel, once a key
	// is no longer in use.
	entries sync.Pool
}

type lockedEntry struct {
	// token has room for one value; the caller that put it there holds the
	// key. Blocked senders are queued first come, first served.
	token chan struct{}
	refs  int // callers holding or waiting for the key; guarded by LockedCalls.mu
}

// Do waits until no other call for key is running, then runs fn and returns
// its results. A panic in fn releases the key and reaches the caller as
// usual.
func (lc *LockedCalls[K, V]) Do(key K, fn func() (V, error)) (V, error) {
	e := lc.acquire(key)
	e.token <- struct{}{}
	defer lc.release(key, e)
	return fn()
}

// DoContext is like [LockedCalls.Do] but stops waiting for its turn when ctx
// ends, returning ctx.Err() without running fn. Once fn has started, ctx is
// fn's business.
func (lc *LockedCalls[K, V]) DoContext(ctx context.Context, key K, fn func() (V, error)) (V, error) {
	var zero V
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	e := lc.acquire(key)
	select {
	case e.token <- struct{}{}:
	case <-ctx.Done():
		lc.unref(key, e)
		return zero, ctx.Err()
	}
	defer lc.release(key, e)
	return fn()
}

// acquire registers the caller's interest in key.
func (lc *LockedCalls[K, V]) acquire(key K) *lockedEntry {
	lc.mu.Lock()
	e, ok := lc.m[key]
	if !ok {
		e, _ = lc.entries.Get().(*lockedEntry)
		if e == nil {
			e = &lockedEntry{token: make(chan struct{}, 1)}
		}
		if lc.m == nil {
			lc.m = make(map[K]*lockedEntry)
		}
		lc.m[key] = e
	}
	e.refs++
	lc.mu.Unlock()
	return e
}

// release gives up the key held by the caller.
func (lc *LockedCalls[K, V]) release(key K, e *lockedEntry) {
	<-e.token
	lc.unref(key, e)
}

// unref drops the caller's interest in key, forgetting the key when no one
// holds or waits for it any more.
func (lc *LockedCalls[K, V]) unref(key K, e *lockedEntry) {
	lc.mu.Lock()
	e.refs--
	if e.refs > 0 {
		lc.mu.Unlock()
		return
	}
	delete(lc.m, key)
	lc.mu.Unlock()
	// The token is empty: the last holder took its value back.
	lc.entries.Put(e)
}
