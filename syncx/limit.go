package syncx

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Limit is a counting semaphore: at most Cap() permits are held at once. It
// is the building block of a bulkhead, capping how many goroutines may use a
// dependency at the same time.
//
// [Limit.TryAcquire] and [Limit.Release] are a compare-and-swap on one word
// while nobody waits; callers of [Limit.Acquire] that find no permit free
// queue up and are served first come, first served. While anyone waits,
// TryAcquire fails, so a stream of TryAcquire calls cannot starve the queue.
//
// A Limit must be made with [NewLimit]. It is safe for concurrent use by
// multiple goroutines.
type Limit struct {
	// state holds the number of permits in use in its low 32 bits and the
	// number of queued waiters in its high 32 bits, so that Release sees
	// both in one load. The waiter count changes only under mu, together
	// with the queue; the permit count also changes without mu while the
	// waiter count is zero.
	state atomic.Int64
	n     int64 // capacity; read-only

	mu    sync.Mutex // guards queue and every waiter in it
	queue waitQueue  // blocked Acquire calls
}

const (
	limitInUseMask = 1<<32 - 1
	limitWaiter    = 1 << 32
)

// NewLimit returns a Limit with n permits. n must be between 1 and
// math.MaxInt32.
func NewLimit(n int) (*Limit, error) {
	if n < 1 || n > math.MaxInt32 {
		return nil, fmt.Errorf("syncx: limit must be between 1 and %d, got %d", math.MaxInt32, n)
	}
	return &Limit{n: int64(n)}, nil
}

// TryAcquire takes a permit if one is free and nobody is queued for one,
// without blocking. It reports whether it took one; a caller that gets true
// must call [Limit.Release] once done.
func (l *Limit) TryAcquire() bool {
	for {
		s := l.state.Load()
		// While waiters are queued the permits are all in use (Release hands
		// them over directly), so this one test also keeps the queue fair.
		if s&limitInUseMask >= l.n {
			return false
		}
		if l.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// Acquire takes a permit, blocking until one is free or ctx ends. On
// success it returns nil and the caller must call [Limit.Release] once done.
// If ctx ends first it returns ctx.Err() and leaves the Limit as it was: no
// permit is taken or lost. A ctx that has already ended fails even if a
// permit is free.
func (l *Limit) Acquire(ctx context.Context) error {
	done := ctx.Done()
	select {
	case <-done:
		return ctx.Err()
	default:
	}
	if l.TryAcquire() {
		return nil
	}

	l.mu.Lock()
	for {
		s := l.state.Load()
		if s&limitInUseMask < l.n {
			// A permit came free since TryAcquire (no one was queued, as
			// the waiter count only changes under mu).
			if l.state.CompareAndSwap(s, s+1) {
				l.mu.Unlock()
				return nil
			}
			continue
		}
		if l.state.CompareAndSwap(s, s+limitWaiter) {
			break
		}
	}
	w := newWaiter()
	l.queue.push(w)
	l.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-done:
	}

	l.mu.Lock()
	if w.granted {
		// The permit arrived as ctx ended. Pass it on, as if this call
		// had never waited.
		l.mu.Unlock()
		l.Release()
		return ctx.Err()
	}
	l.queue.remove(w)
	l.state.Add(-limitWaiter)
	l.mu.Unlock()
	return ctx.Err()
}

// Release gives back a permit taken by [Limit.TryAcquire] or
// [Limit.Acquire], handing it straight to the longest waiting Acquire if
// there is one. Releasing more permits than were taken panics with
// "syncx: Release without Acquire".
func (l *Limit) Release() {
	for {
		s := l.state.Load()
		if s&limitInUseMask == 0 {
			panic("syncx: Release without Acquire")
		}
		if s >= limitWaiter {
			l.releaseSlow()
			return
		}
		if l.state.CompareAndSwap(s, s-1) {
			return
		}
	}
}

func (l *Limit) releaseSlow() {
	l.mu.Lock()
	if w := l.queue.grant(); w != nil {
		// Hand the permit over: the in-use count stays as it is.
		l.state.Add(-limitWaiter)
		l.mu.Unlock()
		w.ready <- struct{}{}
		return
	}
	// The waiters left (their ctx ended) since Release looked. With the
	// queue empty and mu held, the waiter count is zero.
	l.mu.Unlock()
	l.Release()
}

// InUse returns the number of permits currently held.
func (l *Limit) InUse() int {
	return int(l.state.Load() & limitInUseMask)
}

// Waiting returns the number of Acquire calls blocked waiting for a permit.
func (l *Limit) Waiting() int {
	return int(l.state.Load() >> 32)
}

// Cap returns the number of permits, as given to [NewLimit].
func (l *Limit) Cap() int {
	return int(l.n)
}
