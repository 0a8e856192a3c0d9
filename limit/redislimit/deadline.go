package redislimit

import (
	"context"
	"sync/atomic"
	"time"
)

// A call to Redis must end within the limiter's timeout. context.WithTimeout
// costs four allocations per call (context, timer, its closure, the Done
// channel); a call whose ctx cannot be cancelled (Background, TODO,
// WithoutCancel: Done() is nil) takes a shared deadline instead, rounded up
// to the millisecond: one Done channel and one timer per millisecond of
// deadlines, however many calls share it, and one small context per call.
// A cancellable ctx gets context.WithTimeout, so its cancellation still
// ends the call at once.

// deadline is a point in time, rounded to the millisecond, with a channel
// closed when it passes. It is never reused once it has passed.
type deadline struct {
	at     time.Time
	done   chan struct{}
	passed atomic.Bool
}

// deadlines hands out shared deadlines.
type deadlines struct {
	cur atomic.Pointer[deadline] // the latest deadline made
}

const deadlineGrain = time.Millisecond

// get returns a deadline at least d from now and at most d plus a
// millisecond (two when callers race).
func (s *deadlines) get(now time.Time, d time.Duration) *deadline {
	want := now.Add(d)
	if c := s.cur.Load(); c != nil && !c.at.Before(want) && c.at.Sub(want) <= 2*deadlineGrain && !c.passed.Load() {
		return c
	}
	at := want.Truncate(deadlineGrain).Add(deadlineGrain)
	n := &deadline{at: at, done: make(chan struct{})}
	time.AfterFunc(at.Sub(now), func() {
		n.passed.Store(true)
		close(n.done)
	})
	s.cur.Store(n)
	return n
}

// sharedCtx is a non-cancellable parent with a shared deadline.
type sharedCtx struct {
	parent context.Context
	d      *deadline
}

func (c *sharedCtx) Deadline() (time.Time, bool) { return c.d.at, true }
func (c *sharedCtx) Done() <-chan struct{}       { return c.d.done }
func (c *sharedCtx) Value(key any) any           { return c.parent.Value(key) }
func (c *sharedCtx) Err() error {
	if c.d.passed.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

func nop() {}

// withTimeout bounds ctx by d from now.
func (l *Limiter) withTimeout(ctx context.Context, d time.Duration) (context.Context, func()) {
	now := time.Now()
	if dl, ok := ctx.Deadline(); ok && !dl.After(now.Add(d)) {
		return ctx, nop // the caller's deadline comes first
	}
	if ctx.Done() != nil {
		return context.WithTimeout(ctx, d)
	}
	return &sharedCtx{parent: ctx, d: l.deadlines.get(now, d)}, nop
}
