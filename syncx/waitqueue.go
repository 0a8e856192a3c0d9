package syncx

// waiter is one goroutine blocked until it is handed what it waits for: a
// permit of a [Limit], a key of [LockedCalls].
type waiter struct {
	// ready receives one token when the waiter is served. A token rather
	// than a close, so that a recycled waiter's channel can be used again;
	// it has room for one, so serving never blocks.
	ready      chan struct{}
	granted    bool    // served; guarded by the owner's mutex
	prev, next *waiter // queue links; guarded by the owner's mutex
}

func newWaiter() *waiter { return &waiter{ready: make(chan struct{}, 1)} }

// waitQueue is a first-come, first-served queue of waiters, guarded by its
// owner's mutex. The zero value is an empty queue.
type waitQueue struct {
	head, tail *waiter
}

func (q *waitQueue) empty() bool { return q.head == nil }

func (q *waitQueue) push(w *waiter) {
	w.granted = false
	w.prev = q.tail
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
}

func (q *waitQueue) remove(w *waiter) {
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
	w.prev, w.next = nil, nil
}

// grant takes the first waiter off the queue and marks it served, or
// returns nil if nobody waits. The caller sends the token on w.ready once
// it has let go of its mutex.
func (q *waitQueue) grant() *waiter {
	w := q.head
	if w != nil {
		q.remove(w)
		w.granted = true
	}
	return w
}
