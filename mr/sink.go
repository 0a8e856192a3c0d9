package mr

import (
	"context"
	"sync"
	"sync/atomic"
)

const (
	// maxChunk bounds how many items one worker takes from the queue at
	// once, and so how many items a slow mapper can hold back from idle
	// workers.
	maxChunk = 64
	// minRing is the initial queue capacity; it doubles up to the limit.
	minRing = 16
	// queueWorkers bounds the worker count the queue limit grows with, so
	// that the queue of a call with a huge worker count stays bounded.
	queueWorkers = 256
)

// Sink is where a generator sends the items to be mapped. The generator
// receives it as an argument and must not keep it after returning.
//
// Send is safe for concurrent use by multiple goroutines, so a generator
// may fan out its own producers, as long as they have all finished sending
// when the generator returns.
//
// Items wait in a bounded queue (at most 256 per worker, and 65,536 in
// all) from which the mappers take them in
// small chunks: one lock per item on the generator's side and one lock per
// chunk on the mappers' side, instead of a channel operation and a
// goroutine wake-up per item.
type Sink[T any] struct {
	mu           sync.Mutex
	ring         []T  // guarded by mu; len is a power of two
	head         int  // guarded by mu; index of the oldest item
	n            int  // guarded by mu; items queued
	closed       bool // guarded by mu; the generator returned
	spaceWaiters int  // guarded by mu; Sends waiting for room
	spaceWaking  bool // guarded by mu; a space token is in flight
	waiters      int  // guarded by mu; workers parked in take
	waking       bool // guarded by mu; a wake token is in flight
	active       int  // guarded by mu; workers started and not yet exited
	started      int  // guarded by mu; workers started so far

	limit   int // maximum len(ring)
	workers int // maximum number of workers

	wake    chan struct{} // cap workers: one token per parked worker released
	space   chan struct{} // cap 1: releases one Send waiting for room
	drained chan struct{} // closed together with closed
	stop    <-chan struct{}
	stopped *atomic.Bool // set once the call has ended
	ctx     context.Context

	spawn   func() // starts one worker goroutine
	allDone func() // called once, under mu, when closed and active == 0
}

func (s *Sink[T]) init(ctx context.Context, workers int, stop <-chan struct{}, stopped *atomic.Bool) {
	s.ctx = ctx
	s.workers = workers
	s.limit = min(workers, queueWorkers) * 4 * maxChunk
	s.wake = make(chan struct{}, workers)
	s.space = make(chan struct{}, 1)
	s.drained = make(chan struct{})
	s.stop = stop
	s.stopped = stopped
}

// Send queues item for the mappers. It blocks while the queue is full. It
// returns a non-nil error, without queueing item, once the call has ended
// (the first failure, the reducer's return or the caller's context): the
// generator should then return. Send never blocks after the call has
// ended, so a generator that ignores the error cannot hang MapReduce; it
// only keeps its own goroutine alive until it returns.
func (s *Sink[T]) Send(item T) error {
	woken := false // this Send holds the space token
	s.mu.Lock()
	for {
		if woken {
			woken = false
			s.spaceWaking = false
		}
		if s.stopped.Load() {
			s.mu.Unlock()
			return s.ctx.Err()
		}
		if s.closed {
			s.mu.Unlock()
			return errSinkClosed
		}
		if s.n < len(s.ring) {
			break
		}
		if len(s.ring) < s.limit {
			s.grow()
			break
		}
		s.spaceWaiters++
		s.mu.Unlock()
		select {
		case <-s.space:
			woken = true
		case <-s.stop:
			return s.ctx.Err()
		}
		s.mu.Lock()
	}
	s.ring[(s.head+s.n)&(len(s.ring)-1)] = item
	s.n++
	if s.n < len(s.ring) {
		// Room is left: pass the space token on to another waiting Send.
		s.releaseSpace()
	}
	switch {
	case s.waiters > 0 && !s.waking:
		// Wake one parked worker at a time; the woken worker passes the
		// token on if more items remain. This keeps a fast generator from
		// paying a wake-up per item.
		s.waking = true
		s.waiters--
		s.wake <- struct{}{}
	case s.started < s.workers && (s.waiters == 0 || s.n > 1):
		// Nobody is idle, or items pile up behind the worker being woken
		// (a burst after a lull, when fewer workers are parked than the
		// items can keep busy): start another worker, up to the limit. A
		// call with few items starts few goroutines.
		s.started++
		s.active++
		s.spawn()
	}
	s.mu.Unlock()
	return nil
}

// releaseSpace lets one Send that waits for room proceed, unless one is
// already on its way. Called with mu held.
func (s *Sink[T]) releaseSpace() {
	if s.spaceWaiters > 0 && !s.spaceWaking {
		s.spaceWaking = true
		s.spaceWaiters--
		s.space <- struct{}{}
	}
}

func (s *Sink[T]) grow() {
	size := len(s.ring) * 2
	if size == 0 {
		size = minRing
	}
	ring := make([]T, size)
	for i := 0; i < s.n; i++ {
		ring[i] = s.ring[(s.head+i)&(len(s.ring)-1)]
	}
	s.ring, s.head = ring, 0
}

// close marks the end of the items; the generator has returned.
func (s *Sink[T]) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.drained)
		if s.active == 0 {
			s.allDone()
		}
	}
	s.mu.Unlock()
}

// exit is called by every worker when it ends.
func (s *Sink[T]) exit() {
	s.mu.Lock()
	s.active--
	if s.active == 0 && s.closed {
		s.allDone()
	}
	s.mu.Unlock()
}

// take appends the next chunk of items to dst. It returns dst unchanged
// when there is nothing left to do: the queue is drained and closed, or
// the call has ended.
func (s *Sink[T]) take(dst []T) []T {
	woken := false
	s.mu.Lock()
	for s.n == 0 {
		if woken {
			woken = false
			s.waking = false
		}
		if s.closed || s.stopped.Load() {
			s.mu.Unlock()
			return dst
		}
		s.waiters++
		s.mu.Unlock()
		select {
		case <-s.wake:
			woken = true
		case <-s.drained:
		case <-s.stop:
			return dst
		}
		s.mu.Lock()
	}
	// Guided self-scheduling: take a share of what is queued, so that
	// chunks are large while the queue is long (cheap per item) and shrink
	// to single items as it empties (balanced across workers).
	k := s.n / (2 * s.workers)
	if k < 1 {
		k = 1
	} else if k > maxChunk {
		k = maxChunk
	}
	var zero T
	mask := len(s.ring) - 1
	for i := 0; i < k; i++ {
		j := (s.head + i) & mask
		dst = append(dst, s.ring[j])
		s.ring[j] = zero // do not keep the item reachable
	}
	s.head = (s.head + k) & mask
	s.n -= k
	s.releaseSpace()
	if woken {
		if s.n > 0 && s.waiters > 0 {
			s.waiters-- // pass the token on; waking stays set
			s.wake <- struct{}{}
		} else {
			s.waking = false
		}
	}
	s.mu.Unlock()
	return dst
}
