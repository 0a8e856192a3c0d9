package syncx

import (
	"context"
	"sync"
	"sync/atomic"
)

// SingleFlight runs at most one function per key at a time and hands its
// result to every caller that asked for that key while it ran.
//
// Callers that arrive while a call for their key is in flight wait for it
// instead of starting their own; once the call has returned, the next caller
// starts afresh (results are not cached). [SingleFlight.Do] runs the function
// on the first caller's goroutine. [SingleFlight.DoContext] runs it on a
// goroutine of its own so that every caller, the first one included, can stop
// waiting when its context ends.
//
// # Panics and Goexit
//
// A panic in the function is re-raised in every caller waiting for the call,
// as a [*PanicError] that holds the panic value and the stack where it
// happened; no caller ever sees a zero value with a nil error for a call
// that did not return. A DoContext call whose callers have all left keeps no
// one to re-raise the panic in: it is raised on the goroutine that ran the
// function and so ends the program, like any unrecovered panic in a
// goroutine. A panic is never silently dropped.
//
// A function that calls [runtime.Goexit] is told apart from one that panics:
// the goroutine that ran it keeps exiting, and every other caller gets
// [ErrGoexit].
//
// The zero value is ready to use. A SingleFlight is safe for concurrent use
// by multiple goroutines and must not be copied after first use.
type SingleFlight[K comparable, V any] struct {
	mu sync.Mutex     // guards m and the bookkeeping fields of the calls in it
	m  map[K]*call[V] // calls in flight; lazily made

	// calls recycles call structs once every goroutine holding one has let
	// go, so that a call on a new key allocates nothing in the steady state.
	calls sync.Pool
}

// call is one execution of a function and its result.
type call[V any] struct {
	// wg is Done when the call has finished; callers of Do that join the
	// call wait on it. It is armed (Add) only when the first of them joins,
	// so an unshared call pays no atomic operation for it.
	wg sync.WaitGroup
	// done is closed when the call has finished. It is made, under
	// SingleFlight.mu, only when a caller of DoContext takes part, so that
	// calls made through Do alone allocate no channel.
	done chan struct{}
	// cancel ends the context of a function started by DoContext; nil for
	// calls started by Do. Set before the call is published.
	cancel context.CancelFunc

	// Guarded by SingleFlight.mu.
	dups      int  // callers that joined the first one
	waiting   int  // callers still waiting; callers of Do never leave
	finished  bool // the result fields below are final
	abandoned bool // finished with no caller left waiting
	forgotten bool // no longer in SingleFlight.m; saves finish a lookup
	wgArmed   bool // wg.Add(1) was called

	// Written by the goroutine running the function before finished is set,
	// read-only afterwards.
	val  V
	err  error
	perr *PanicError

	// refs counts the goroutines that may still touch the call, minus one:
	// the one running the function and every caller that has not read the
	// result yet. The last one to let go (refs drops to -1) recycles the
	// call. Counting from zero means a fresh call needs no atomic store,
	// and a call of Do that nobody joined is recycled without touching
	// refs at all.
	refs atomic.Int32
}

// Do runs fn once for key and returns its results to every caller that asks
// for key while it runs. The first caller runs fn on its own goroutine; the
// others block until it returns. shared reports whether more than one
// caller took part in the call, and so received (or, for a DoContext caller
// that left early, would have received) the same result; it is the same for
// every caller of one call, a DoContext caller that left early included:
// when one leaves, either another caller has joined already or, if it was
// the last, the call is forgotten and nobody can join any more.
//
// If fn panics, Do panics with a [*PanicError] in every caller. If fn calls
// [runtime.Goexit], the first caller's goroutine exits and the others get
// [ErrGoexit].
func (g *SingleFlight[K, V]) Do(key K, fn func() (V, error)) (v V, shared bool, err error) {
	g.mu.Lock()
	if c, ok := g.m[key]; ok {
		c.dups++
		c.waiting++
		c.refs.Add(1)
		if !c.wgArmed {
			c.wg.Add(1)
			c.wgArmed = true
		}
		g.mu.Unlock()
		c.wg.Wait()
		return g.result(c)
	}
	c := g.newCall() // the caller's own reference is implicit in refs == 0
	c.waiting = 1
	if g.m == nil {
		g.m = make(map[K]*call[V])
	}
	g.m[key] = c
	g.mu.Unlock()

	g.run(c, key, fn)
	if c.dups == 0 {
		// Nobody joined, and nobody can now that the call is finished:
		// this goroutine is the only one that ever held c.
		v, err, perr := c.val, c.err, c.perr
		g.recycle(c)
		if perr != nil {
			panic(perr)
		}
		return v, false, err
	}
	return g.result(c)
}

// DoContext is like [SingleFlight.Do] but each caller waits only as long as
// its own ctx allows. A caller whose ctx ends stops waiting and gets
// ctx.Err(); the call goes on for the callers still waiting.
//
// fn runs on a goroutine of its own with a context that carries the values
// of the first caller's ctx but not its deadline or cancellation: one
// caller leaving must not cancel the work the others wait for. That context
// is cancelled when the last waiting caller has left; the call is then
// forgotten, so the next caller for key starts afresh, and whatever fn
// returns afterwards is dropped. A ctx that has already ended returns
// ctx.Err() without starting or joining a call.
//
// Callers of Do and DoContext share calls on the same key freely; a caller
// of Do never leaves, so a call it waits for is never cancelled.
func (g *SingleFlight[K, V]) DoContext(ctx context.Context, key K, fn func(ctx context.Context) (V, error)) (v V, shared bool, err error) {
	if err := ctx.Err(); err != nil {
		return v, false, err
	}
	g.mu.Lock()
	c, ok := g.m[key]
	if ok {
		c.dups++
	} else {
		c = g.newCall() // the goroutine that runs fn holds the implicit reference
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.cancel = cancel
		if g.m == nil {
			g.m = make(map[K]*call[V])
		}
		g.m[key] = c
		// Starting the goroutine under the lock is fine: nothing it does
		// before finishing needs the lock, and the call is fully set up.
		go g.work(c, key, fctx, fn)
	}
	c.waiting++
	c.refs.Add(1)
	if c.done == nil {
		c.done = make(chan struct{})
	}
	done := c.done
	g.mu.Unlock()

	select {
	case <-done:
		return g.result(c)
	case <-ctx.Done():
	}

	g.mu.Lock()
	if c.finished {
		// The result arrived as ctx ended: hand it over rather than waste it.
		g.mu.Unlock()
		return g.result(c)
	}
	c.waiting--
	last := c.waiting == 0
	if last && !c.forgotten {
		delete(g.m, key)
		c.forgotten = true
	}
	// dups > 0 now is final: if others are still waiting, someone has
	// joined already; if this caller was the last, the call is forgotten
	// and nobody can join any more. So shared is what every other caller
	// of the call gets.
	shared = c.dups > 0
	g.mu.Unlock()
	if last && c.cancel != nil {
		c.cancel()
	}
	g.release(c)
	return v, shared, ctx.Err()
}

// Forget makes the next call for key start afresh instead of waiting for
// the one in flight, if any. Callers already waiting still get the result of
// the call they joined, and that call is not cancelled.
func (g *SingleFlight[K, V]) Forget(key K) {
	g.mu.Lock()
	if c, ok := g.m[key]; ok {
		delete(g.m, key)
		c.forgotten = true
	}
	g.mu.Unlock()
}

func (g *SingleFlight[K, V]) newCall() *call[V] {
	if c, _ := g.calls.Get().(*call[V]); c != nil {
		return c
	}
	return new(call[V])
}

// release drops one reference to c and recycles it when it was the last.
func (g *SingleFlight[K, V]) release(c *call[V]) {
	if c.refs.Add(-1) >= 0 {
		return
	}
	c.refs.Store(0)
	g.recycle(c)
}

// recycle clears c, which no goroutine holds any more, and pools it.
func (g *SingleFlight[K, V]) recycle(c *call[V]) {
	var zero V
	c.val, c.err, c.perr = zero, nil, nil // do not keep the result alive
	c.done, c.cancel = nil, nil
	c.dups, c.waiting = 0, 0
	c.finished, c.abandoned, c.forgotten, c.wgArmed = false, false, false, false
	g.calls.Put(c)
}

// result reads the outcome of the finished call c for one caller, lets go of
// c and re-raises a panic of the function.
func (g *SingleFlight[K, V]) result(c *call[V]) (V, bool, error) {
	v, err, perr, shared := c.val, c.err, c.perr, c.dups > 0
	g.release(c)
	if perr != nil {
		panic(perr)
	}
	return v, shared, err
}

// work runs a function started by DoContext.
func (g *SingleFlight[K, V]) work(c *call[V], key K, ctx context.Context, fn func(context.Context) (V, error)) {
	g.run(c, key, func() (V, error) { return fn(ctx) })
	// Reached unless fn called runtime.Goexit.
	perr, abandoned := c.perr, c.abandoned
	g.release(c)
	if perr != nil && abandoned {
		// Nobody is left to re-raise the panic in; do not swallow it.
		panic(perr)
	}
}

// run calls fn, records its outcome in c and finishes c. It returns
// normally when fn returned or panicked (the panic is recorded, for the
// callers to re-raise); when fn called runtime.Goexit it lets the goroutine
// go on exiting, after giving up the goroutine's reference to c.
func (g *SingleFlight[K, V]) run(c *call[V], key K, fn func() (V, error)) {
	returned, recovered := false, false
	defer func() {
		goexit := !returned && !recovered
		if goexit {
			// recover found no panic and the inner function never
			// returned: runtime.Goexit is unwinding the goroutine.
			c.perr, c.err = nil, ErrGoexit
		}
		g.finish(c, key)
		if goexit {
			g.release(c)
		}
	}()
	func() {
		defer func() {
			if !returned {
				// A panic or runtime.Goexit. The outer function tells them
				// apart: only after a panic does this function return.
				c.perr = newPanicError(recover())
			}
		}()
		c.val, c.err = fn()
		returned = true
	}()
	recovered = !returned
}

// finish publishes the outcome of c and wakes its callers.
func (g *SingleFlight[K, V]) finish(c *call[V], key K) {
	g.mu.Lock()
	if !c.forgotten {
		delete(g.m, key)
	}
	c.finished = true
	c.abandoned = c.waiting == 0
	done, armed := c.done, c.wgArmed
	g.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
	if done != nil {
		close(done)
	}
	if armed {
		c.wg.Done()
	}
}
