package syncx

import (
	"context"
	"runtime"
	"sync"
)

// LockedCalls runs calls with the same key one after another. Unlike
// [SingleFlight], nothing is shared: every caller runs its own function and
// gets its own result, but never while another function for the same key is
// running. Calls with different keys run in parallel. Callers waiting for a
// key are served first come, first served.
//
// A key takes memory only while someone holds or waits for it, so the set of
// keys may be unbounded.
//
// The zero value is ready to use. A LockedCalls is safe for concurrent use
// by multiple goroutines and must not be copied after first use.
type LockedCalls[K comparable, V any] struct {
	mu sync.Mutex         // guards m and every entry and waiter in it
	m  map[K]*lockedEntry // keys held; lazily made

	// entries recycles lockedEntry values once a key is no longer held,
	// waiters recycles waiter values with their channel: neither a
	// free key nor a busy one costs an allocation in the steady state.
	entries, waiters sync.Pool
}

// lockedEntry is a held key and the callers queued for it. An entry exists
// exactly while its key is held: the last holder with nobody queued
// removes it.
type lockedEntry struct {
	queue waitQueue // callers blocked on the key
}

// Do waits until no other call for key is running, then runs fn and returns
// its results. A panic in fn releases the key and reaches the caller as
// usual.
func (lc *LockedCalls[K, V]) Do(key K, fn func() (V, error)) (V, error) {
	e, w := lc.lock(key)
	if w != nil {
		<-w.ready
		lc.waiters.Put(w)
	}
	defer lc.unlock(key, e)
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
	e, w := lc.lock(key)
	if w != nil {
		select {
		case <-w.ready:
			lc.waiters.Put(w)
		case <-ctx.Done():
			lc.mu.Lock()
			if !w.granted {
				e.queue.remove(w)
				lc.mu.Unlock()
				lc.waiters.Put(w)
				return zero, ctx.Err()
			}
			// The key arrived as ctx ended: pass it on.
			lc.mu.Unlock()
			<-w.ready // the token is sent right after granted is set
			lc.waiters.Put(w)
			lc.unlock(key, e)
			return zero, ctx.Err()
		}
	}
	defer lc.unlock(key, e)
	return fn()
}

// lockedSpins is how many times lock yields before queuing behind a key
// held by a caller that nobody waits for yet.
const lockedSpins = 4

// lock takes key if it is free (w == nil) or queues the caller for it (the
// key is the caller's once a token arrives on w.ready).
func (lc *LockedCalls[K, V]) lock(key K) (e *lockedEntry, w *waiter) {
	lc.mu.Lock()
	e, held := lc.m[key]
	for spin := 0; held && e.queue.empty() && spin < lockedSpins; spin++ {
		// Held, nobody queued: the holder is likely about to finish, and
		// parking costs more than a few yields.
		lc.mu.Unlock()
		runtime.Gosched()
		lc.mu.Lock()
		e, held = lc.m[key]
	}
	if !held {
		e, _ = lc.entries.Get().(*lockedEntry)
		if e == nil {
			e = new(lockedEntry)
		}
		if lc.m == nil {
			lc.m = make(map[K]*lockedEntry)
		}
		lc.m[key] = e
		lc.mu.Unlock()
		return e, nil
	}
	w, _ = lc.waiters.Get().(*waiter)
	if w == nil {
		w = newWaiter()
	}
	e.queue.push(w)
	lc.mu.Unlock()
	return e, w
}

// unlock hands key to the first caller queued for it, or frees it.
func (lc *LockedCalls[K, V]) unlock(key K, e *lockedEntry) {
	lc.mu.Lock()
	if w := e.queue.grant(); w != nil {
		lc.mu.Unlock()
		w.ready <- struct{}{} // never blocks: room for one, sent once
		return
	}
	delete(lc.m, key)
	lc.mu.Unlock()
	lc.entries.Put(e) // its queue is empty
}
