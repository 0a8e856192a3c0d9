package mr

import (
	"context"
	"runtime/debug"
	"sync/atomic"
)

// outcome records how a call ended. The first of success, error or panic to
// be settled wins; everything later is dropped. Settling cancels the context
// the user functions see and then closes stop, which releases every
// internal goroutine that may be waiting.
type outcome[V any] struct {
	settled atomic.Bool // set by the one settle that wins
	stopped atomic.Bool // set after cancel, before stop is closed
	stop    chan struct{}
	cancel  context.CancelCauseFunc
	parent  context.Context // the caller's context

	// Written once by the winning settle before stop is closed; read by
	// the caller after <-stop.
	val V
	err error
	pan *PanicError
}

func newOutcome[V any](parent context.Context) (*outcome[V], context.Context) {
	ctx, cancel := context.WithCancelCause(parent)
	return &outcome[V]{stop: make(chan struct{}), cancel: cancel, parent: parent}, ctx
}

// settle records the outcome if none has been recorded yet, and reports
// whether it did. Once the caller's context is done, the outcome is its
// error whatever is reported, a panic excepted: a user function returning
// because of the cancellation must not turn it into its own error, and a
// reducer's value may be partial, but a panic is a bug that must not be
// hidden behind the cancellation.
func (o *outcome[V]) settle(v V, err error, p *PanicError) bool {
	if !o.settled.CompareAndSwap(false, true) {
		return false
	}
	if perr := o.parent.Err(); perr != nil && p == nil {
		var zero V
		v, err, p = zero, perr, nil
	}
	o.val, o.err, o.pan = v, err, p
	var cause error // nil cancels with context.Canceled
	if p != nil {
		cause = p
	} else if err != nil {
		cause = err
	}
	o.cancel(cause)
	o.stopped.Store(true)
	close(o.stop)
	return true
}

func (o *outcome[V]) fail(err error) {
	var zero V
	o.settle(zero, err, nil)
}

// recovered settles the outcome for a user function that did not return
// normally: r is what recover returned in the deferred call, nil meaning the
// function called runtime.Goexit (a nil panic arrives as
// *runtime.PanicNilError since Go 1.21). It returns the panic when the
// outcome was already decided, for the caller to re-raise on the panicking
// goroutine: nobody else is left to re-raise it in, and a panic is never
// dropped.
func (o *outcome[V]) recovered(r any) *PanicError {
	var zero V
	if r == nil {
		o.settle(zero, ErrGoexit, nil)
		return nil
	}
	// debug.Stack runs on the panicking goroutine, whose stack still holds
	// the frames that led to the panic.
	p := &PanicError{Value: r, Stack: debug.Stack()}
	if o.settle(zero, nil, p) {
		return nil
	}
	return p
}

// wait blocks until the outcome is settled or parent is done, whichever
// comes first, and returns or re-raises it. It never waits for user
// functions that are still running.
func (o *outcome[V]) wait(parent context.Context) (V, error) {
	select {
	case <-o.stop:
	case <-parent.Done():
		o.fail(parent.Err())
		<-o.stop
	}
	if o.pan != nil {
		panic(o.pan)
	}
	return o.val, o.err
}
