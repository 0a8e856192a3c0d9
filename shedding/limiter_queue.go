package shedding

import (
	"context"
	"time"
)

// waiter is a caller waiting in a limiter's queue. Its fields are guarded
// by the limiter's qmu.
type waiter struct {
	prev, next *waiter
	ready      chan struct{} // receives once the waiter is granted or cut
	state      int8          // waiting, granted or cut
	queued     bool
}

const (
	waiting = iota
	granted
	cut
)

// list is a FIFO of waiters.
type list struct {
	head, tail *waiter
	n          int
}

func (q *list) push(w *waiter) {
	w.prev, w.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	q.n++
	w.queued = true
}

func (q *list) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	q.n--
}

// wait queues the caller until a slot is handed to it, the max wait
// passes, the queue is cut or ctx is done.
func (l *Limiter) wait(ctx context.Context, p Priority) (Permit, error) {
	i := p.Index()
	w := &waiter{ready: make(chan struct{}, 1)}
	l.qmu.Lock()
	if int64(l.waiting.Load()) >= l.qlimit.Load() {
		l.qmu.Unlock()
		return Permit{}, l.rejectErr
	}
	l.queue[i].push(w)
	l.waiting.Add(1)
	l.qmu.Unlock()
	// A slot may have freed between the try and the push.
	l.handoff()

	timer := time.NewTimer(l.maxWait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = l.rejectErr
	}
	l.qmu.Lock()
	state := w.state
	if w.queued {
		l.queue[i].remove(w)
		l.waiting.Add(-1)
	}
	l.qmu.Unlock()
	switch {
	case state == granted && err == nil:
		l.rejected[i].Add(-1) // TryAcquirePriority counted it
		l.acquired[i].Add(1)
		return Permit{l: l, start: l.now(), class: int8(i)}, nil
	case state == granted:
		// Granted as the wait ended: give the slot back.
		l.inflight.Add(-1)
		l.handoff()
	case state == cut:
		err = l.rejectErr
	}
	if err != l.rejectErr {
		l.rejected[i].Add(-1) // the caller's own cancellation is not a rejection
	}
	return Permit{}, err
}

// handoff grants free slots to waiters, highest class first.
func (l *Limiter) handoff() {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	for {
		var q *list
		var i int
		for j := NumPriorities - 1; j >= 0; j-- {
			if l.queue[j].n > 0 {
				q, i = &l.queue[j], j
				break
			}
		}
		if q == nil {
			return
		}
		n := l.inflight.Load()
		if n >= l.caps[i].Load() || !l.inflight.CompareAndSwap(n, n+1) {
			return
		}
		w := q.head
		q.remove(w)
		l.waiting.Add(-1)
		w.state = granted
		w.ready <- struct{}{}
	}
}

// trim cuts the queue to its bound after the limit fell, lowest class and
// newest first.
func (l *Limiter) trim() {
	if l.waiting.Load() == 0 {
		return
	}
	l.qmu.Lock()
	defer l.qmu.Unlock()
	bound := l.qlimit.Load()
	for i := 0; i < NumPriorities && l.waiting.Load() > bound; i++ {
		q := &l.queue[i]
		for q.n > 0 && l.waiting.Load() > bound {
			w := q.tail
			q.remove(w)
			l.waiting.Add(-1)
			w.state = cut
			w.ready <- struct{}{}
		}
	}
}
