package syncx

// Test hooks: they let tests wait for a state instead of sleeping.

// Waiting returns how many callers wait for the call in flight for key.
func (g *SingleFlight[K, V]) Waiting(key K) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.m[key]; ok {
		return c.waiting
	}
	return 0
}

// Len returns the number of calls in flight.
func (g *SingleFlight[K, V]) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}

// Refs returns how many callers hold or wait for key.
func (lc *LockedCalls[K, V]) Refs(key K) int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	e, ok := lc.m[key]
	if !ok {
		return 0
	}
	n := 1
	for w := e.queue.head; w != nil; w = w.next {
		n++
	}
	return n
}

// Len returns the number of keys held.
func (lc *LockedCalls[K, V]) Len() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return len(lc.m)
}
