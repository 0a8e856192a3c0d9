package mr

import (
	"context"
	"sync/atomic"
)

// Finish calls every function in fns concurrently, each in a goroutine of
// its own, and returns nil once they have all returned nil. The first error
// cancels the context the others see and is returned at once; a panic is
// re-raised in the caller's goroutine as a [*PanicError]; when ctx is done
// first, Finish returns ctx.Err() at once. As with [MapReduce], Finish does
// not wait for functions still running when its outcome is decided.
//
// Finish panics if a function in fns is nil.
func Finish(ctx context.Context, fns ...func(ctx context.Context) error) error {
	for _, fn := range fns {
		if fn == nil {
			panic("mr: nil function given to Finish")
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(fns) == 0 {
		return nil
	}
	o, fctx := newOutcome[struct{}](ctx)
	var left atomic.Int64
	left.Store(int64(len(fns)))
	for _, fn := range fns {
		go func() {
			normal := false
			defer func() {
				if !normal {
					if lost := o.recovered(recover()); lost != nil {
						panic(lost)
					}
				}
			}()
			err := fn(fctx)
			normal = true
			switch {
			case err != nil:
				o.fail(err)
			case left.Add(-1) == 0:
				o.settle(struct{}{}, nil, nil)
			}
		}()
	}
	_, err := o.wait(ctx)
	return err
}

// FinishVoid calls every function in fns concurrently, each in a goroutine
// of its own, and returns once they have all returned. The first panic is
// re-raised in the caller's goroutine as a [*PanicError] without waiting
// for the other functions; a function that calls runtime.Goexit makes
// FinishVoid panic with [ErrGoexit].
//
// FinishVoid panics if a function in fns is nil.
func FinishVoid(fns ...func()) {
	wrapped := make([]func(context.Context) error, len(fns))
	for i, fn := range fns {
		if fn == nil {
			panic("mr: nil function given to FinishVoid")
		}
		wrapped[i] = func(context.Context) error { fn(); return nil }
	}
	// A function that calls runtime.Goexit surfaces as ErrGoexit: there is
	// no error to return, so re-raise it like a panic would be.
	if err := Finish(context.Background(), wrapped...); err != nil {
		panic(err)
	}
}
