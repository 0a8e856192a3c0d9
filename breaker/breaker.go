package breaker

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// ErrServiceUnavailable is the error a breaker rejects a call with, or an
// error matching it with [errors.Is] (a [*RejectedError] for a named
// breaker).
var ErrServiceUnavailable = errors.New("breaker: service unavailable")

// RejectedError is the rejection of a named breaker (a breaker of a
// [Group], of [Transport], or one made with [WithName]). It says whose
// breaker rejected the call and matches [ErrServiceUnavailable] with
// [errors.Is]. A breaker builds its RejectedError once, so rejecting
// costs no allocation; it is never modified, so it is safe to share
// between goroutines.
type RejectedError struct {
	Name string // the breaker's name: a host for Transport
}

func (e *RejectedError) Error() string {
	return "breaker: " + e.Name + ": service unavailable"
}

// Is reports whether target is [ErrServiceUnavailable].
func (e *RejectedError) Is(target error) bool { return target == ErrServiceUnavailable }

// Event reports that a breaker started or stopped throttling; see
// [WithEventHook].
type Event struct {
	Name        string    // the breaker's name, "" if it has none
	Throttling  bool      // true: it started rejecting calls; false: it stopped
	Probability float64   // rejection probability when the change was seen
	Time        time.Time // when the change was seen, on the breaker's clock
}

// Stats is a snapshot of a breaker's rolling window, a plain value. The
// counts are those the breaker decides on: once it has seen the dependency
// recover, the failures of earlier buckets are halved (see "How fast it
// reacts" in the package documentation).
type Stats struct {
	Calls       int64   // Requests + Rejections
	Requests    int64   // calls that reached the dependency and reported an outcome
	Accepts     int64   // requests that succeeded
	Rejections  int64   // calls the breaker rejected locally
	Probability float64 // probability that the next call is rejected
	Throttling  bool    // throttling state, evaluated once per bucket as for the event hook
}

// slot is one bucket of the rolling window. The counts of the bucket in
// progress live in the breaker's striped counters; a slot receives its
// totals when its bucket is over. While its bucket is current, the slot
// also carries what calls need to decide, computed once at rollover; it is
// written only then, so it stays in every core's cache.
type slot struct {
	// Written by the goroutine that makes this slot current, before it
	// publishes it.
	idx     atomic.Int64 // absolute bucket number
	end     atomic.Int64 // offset from start at which the bucket ends, ns
	prevReq atomic.Int64 // requests in the completed buckets of the window
	prevAcc atomic.Int64 // accepts in the completed buckets of the window
	// budget is how many failures the current bucket may collect before a
	// call must look closer: while failures <= budget the rejection
	// probability is 0 whatever the bucket's successes, since K >= 1.
	budget atomic.Int64

	// Totals of the bucket once it is over; guarded by Breaker.mu.
	req, acc, rej int64
}

// stripes spreads the counters of the bucket in progress over this many
// counters, so that calls finishing at once on different cores seldom
// write the same cache line. A power of two.
const stripes = 8

// counter is an atomic counter alone on its pair of cache lines: 128 bytes,
// because cores prefetch lines in adjacent pairs, so a neighbour written by
// another core 64 bytes away still bounces.
type counter struct {
	n atomic.Int64
	_ [120]byte
}

// stripe picks the counter for the calling goroutine. A counter chosen per
// call (from the clock, say) is written by one core and then by another
// about every other call, and each such write moves the line between cores:
// measured at 2 cores, 48 ns per Allow+Accept instead of 15. The address of
// a local variable is the same for every call a goroutine makes from the
// same place and differs between goroutines (their stacks are apart), so
// hashing it gives each busy goroutine a counter that stays in its core's
// cache. Any counter is correct, since reads sum them all; only the speed
// depends on the spread. The pointer is converted to a number at once and
// never back: the variable stays on the stack and nothing allocates.
func stripe() int {
	var anchor byte
	return int(uint64(uintptr(unsafe.Pointer(&anchor))>>12) * 0x9E3779B97F4A7C15 >> 61)
}

func sum(cs *[stripes]counter) (n int64) {
	for i := range cs {
		n += cs[i].n.Load()
	}
	return n
}

func swap(cs *[stripes]counter) (n int64) {
	for i := range cs {
		n += cs[i].n.Swap(0)
	}
	return n
}

// Breaker is an adaptive client-side throttle for one dependency: it
// rejects calls locally, with a probability that grows as the
// dependency's recent success rate falls, so a failing dependency gets
// room to recover. See the package documentation for the algorithm.
//
// A Breaker is safe for concurrent use by multiple goroutines. Make one
// with [New]; the zero value is not usable.
type Breaker struct {
	// Read by every call, written only at bucket rollover.
	cur        atomic.Pointer[slot]
	k          float64
	protection float64
	width      int64 // bucket length, ns
	n          int64 // buckets in the window
	probe      int64 // probe interval, ns
	probeSlack int64 // how stale lastPass may get, ns
	slow       int64 // slow-call threshold, ns; 0: off
	start      time.Time
	clock      Clock          // nil: the monotonic clock
	rand       func() float64 // nil: math/rand/v2
	acceptable func(error) bool
	hook       func(Event)
	logger     *slog.Logger
	name       string
	rejectErr  error
	slots      []slot
	base       int64       // for a Group: start, ns since the group's origin
	track      bool        // for a Group: keep used up to date
	dropped    atomic.Bool // for a Group: evicted or dropped as idle

	_        [64]byte
	lastPass atomic.Int64 // offset of the last admitted call while throttling, ns
	_        [56]byte
	// used is the offset of the last call, ns, for a Group's eviction. It
	// is written at most once per usedGrain, so that parallel calls do not
	// pass its cache line between cores on every call, and only for a
	// breaker of a Group.
	used atomic.Int64
	_    [56]byte

	// Counts of the bucket in progress, moved into its slot at rollover.
	fails counter          // admitted calls that failed: rare while healthy
	accs  [stripes]counter // admitted calls that succeeded
	rejs  [stripes]counter // calls rejected locally, for Stats only

	mu         sync.Mutex  // serialises rollovers; the hot path only TryLocks it
	throttling atomic.Bool // written under mu
}

// New returns a breaker configured by opts, or an error describing every
// invalid option.
func New(opts ...Option) (*Breaker, error) {
	c, err := build(opts, Option.applyBreaker)
	if err != nil {
		return nil, err
	}
	return newBreaker(&c, c.name), nil
}

func newBreaker(c *config, name string) *Breaker {
	b := &Breaker{
		k:          c.k,
		protection: c.protection,
		n:          int64(c.buckets),
		width:      int64(c.window) / int64(c.buckets),
		probe:      int64(c.probe),
		probeSlack: int64(c.probe) / 16,
		slow:       int64(c.slow),
		clock:      c.clock,
		rand:       c.rand,
		acceptable: c.acceptable,
		hook:       c.hook,
		logger:     c.logger,
		name:       name,
		rejectErr:  ErrServiceUnavailable,
		slots:      make([]slot, c.buckets),
	}
	if name != "" {
		b.rejectErr = &RejectedError{Name: name}
	}
	if b.clock != nil {
		b.start = b.clock.Now()
	} else {
		b.start = time.Now()
	}
	s := &b.slots[0]
	s.end.Store(b.width)
	s.budget.Store(budget(b.protection))
	b.cur.Store(s)
	return b
}

// Name returns the breaker's name, "" if it has none.
func (b *Breaker) Name() string { return b.name }

// now returns the time since the breaker was made, in ns. With the
// default clock that is one read of the monotonic clock.
func (b *Breaker) now() int64 {
	if b.clock == nil {
		return int64(time.Since(b.start))
	}
	return int64(b.clock.Now().Sub(b.start))
}

// current returns the slot of the bucket holding now, rolling the window
// forward first if now is past the current bucket.
func (b *Breaker) current(now int64) *slot {
	s := b.cur.Load()
	if now >= s.end.Load() {
		b.roll(now, false)
		s = b.cur.Load()
	}
	return s
}

// roll moves the window forward to the bucket holding now: it clears the
// buckets that were skipped, sums the completed ones once so that calls
// need not, and publishes the new current slot. One goroutine rolls at a
// time; a call that finds a roll in progress keeps using the previous
// bucket for the moment the roll takes, unless wait is set.
func (b *Breaker) roll(now int64, wait bool) {
	if wait {
		b.mu.Lock()
	} else if !b.mu.TryLock() {
		return
	}
	cs := b.cur.Load()
	c := cs.idx.Load()
	idx := now / b.width
	if idx <= c {
		b.mu.Unlock()
		return
	}
	// The counts so far belong to bucket c; calls finishing from here on
	// count in the new bucket.
	a, f, r := swap(&b.accs), b.fails.n.Swap(0), swap(&b.rejs)
	cs.req, cs.acc, cs.rej = a+f, a, r
	gap := min(idx-c, b.n)
	for j := idx - gap + 1; j <= idx; j++ {
		s := &b.slots[j%b.n]
		s.req, s.acc, s.rej = 0, 0, 0
	}
	if f == 0 && a > 0 && idx-c < b.n {
		b.forgive(max(idx-b.n+1, 0), c, a)
	}
	var req, acc int64
	for j := max(idx-b.n+1, 0); j < idx; j++ {
		s := &b.slots[j%b.n]
		req += s.req
		acc += s.acc
	}
	s := &b.slots[idx%b.n]
	s.idx.Store(idx)
	s.end.Store((idx + 1) * b.width)
	s.prevReq.Store(req)
	s.prevAcc.Store(acc)
	s.budget.Store(budget(b.k*float64(acc) + b.protection - float64(req)))
	b.cur.Store(s)

	p := b.probability(req, acc)
	on := p > 0
	changed := on != b.throttling.Load()
	if changed {
		b.throttling.Store(on)
	}
	b.mu.Unlock()
	if changed {
		b.report(Event{Name: b.name, Throttling: on, Probability: p, Time: b.start.Add(time.Duration(now))})
	}
}

// changeOdds is how unlikely a clean bucket must be, given the window's
// success rate, for the breaker to take it as a sign that the dependency
// has changed.
const changeOdds = 0.001

// forgive halves the failures of buckets [from, to) when bucket to, just
// over, saw accepts successes and no failure, and such a bucket is too
// unlikely at the success rate of those buckets to be chance: the
// dependency has recovered, and the failures it had when it was down should
// not hold the rejection probability up until they leave the window. While
// the success rate stays the same, a clean bucket that unlikely comes less
// than once in a thousand buckets, so the steady-state behaviour is that of
// the plain formula. Called under mu.
func (b *Breaker) forgive(from, to, accepts int64) {
	var req, acc int64
	for j := from; j < to; j++ {
		s := &b.slots[j%b.n]
		req += s.req
		acc += s.acc
	}
	if req == acc {
		return
	}
	// The success rate with a uniform prior: in a window without a single
	// success, one success is news only after about a thousand failures.
	rate := float64(acc+1) / float64(req+2)
	if math.Pow(rate, float64(accepts)) >= changeOdds {
		return
	}
	for j := from; j < to; j++ {
		s := &b.slots[j%b.n]
		s.req = s.acc + (s.req-s.acc)/2
	}
}

// report tells the logger and the hook about a change of state. It runs
// outside the breaker's lock, at most once per bucket.
func (b *Breaker) report(e Event) {
	if b.logger != nil {
		if e.Throttling {
			b.logger.Warn("breaker: throttling started", "breaker", e.Name, "probability", e.Probability)
		} else {
			b.logger.Info("breaker: throttling stopped", "breaker", e.Name)
		}
	}
	if b.hook != nil {
		b.hook(e)
	}
}

// budget converts the slack of the completed buckets, K*accepts +
// protection - requests, into the failures the current bucket may collect
// with the probability staying 0.
func budget(slack float64) int64 {
	if slack < 0 {
		return -1
	}
	return int64(min(math.Floor(slack), math.MaxInt32))
}

// probability is the client-side throttling formula,
// max(0, (requests - K*accepts - protection) / (requests + 1)).
func (b *Breaker) probability(req, acc int64) float64 {
	num := float64(req) - b.k*float64(acc) - b.protection
	if num <= 0 {
		return 0
	}
	return num / float64(req+1)
}

// Promise is a call the breaker admitted, waiting for its outcome: call
// exactly one of [Promise.Accept], [Promise.Reject] or [Promise.Done] once
// the call has finished. Dropping a Promise without calling any of them
// records nothing, which is right when the outcome says nothing about the
// dependency. The zero Promise (returned with a rejection) does nothing.
//
// A Promise is a small value rather than a pointer so that admitting a
// call does not allocate. It may be settled on another goroutine than the
// one that called Allow, once.
type Promise struct {
	b     *Breaker
	start int64
}

// Accept records that the call succeeded (or, with [WithSlowCall], failed
// if it took too long).
func (p Promise) Accept() {
	b := p.b
	if b == nil {
		return
	}
	if b.slow > 0 && b.now()-p.start > b.slow {
		b.fails.n.Add(1)
		return
	}
	b.accs[stripe()].n.Add(1)
}

// Reject records that the call failed.
func (p Promise) Reject() {
	if p.b == nil {
		return
	}
	p.b.fails.n.Add(1)
}

// Done records the outcome of a call that returned err: nil and errors
// marked acceptable ([WithAcceptable]) are successes, context.Canceled
// records nothing (the caller gave up; the dependency did not fail), any
// other error is a failure.
func (p Promise) Done(err error) {
	if p.b == nil {
		return
	}
	switch {
	case err == nil:
		p.Accept()
	case errors.Is(err, context.Canceled):
	case p.b.acceptable != nil && p.b.acceptable(err):
		p.Accept()
	default:
		p.Reject()
	}
}

// Allow decides whether a call may go ahead. If it may, it returns a
// [Promise] through which to report the outcome; if not, a nil-valued
// Promise and an error matching [ErrServiceUnavailable]. Allow is the
// two-step form of [Breaker.Do] for code that cannot be wrapped in a
// function.
//
// Allow reads the clock once and does not allocate; it draws a random
// number only while the breaker throttles.
func (b *Breaker) Allow() (Promise, error) {
	now := b.now()
	if b.admit(now) {
		return Promise{b: b, start: now}, nil
	}
	return Promise{}, b.rejectErr
}

// probeFloor is the rejection probability from which the probe admits a
// call at least every probe interval.
const probeFloor = 0.9

// usedGrain is the resolution of Breaker.used: a write every 10 µs at
// most costs parallel callers on other cores a cache miss each, about 1 %
// of their time at 100 ns per miss, where a write per call would cost more
// than the call.
const usedGrain = int64(10 * time.Microsecond)

func (b *Breaker) admit(now int64) bool {
	if b.track && now-b.used.Load() >= usedGrain {
		b.used.Store(now)
	}
	s := b.current(now)
	f := b.fails.n.Load()
	if f <= s.budget.Load() {
		// The fast path of a healthy dependency: it reads only lines
		// that are written at rollover or on failures.
		return true
	}
	a := sum(&b.accs)
	req := s.prevReq.Load() + a + f
	acc := s.prevAcc.Load() + a
	num := float64(req) - b.k*float64(acc) - b.protection
	if num <= 0 {
		return true
	}
	var draw float64
	if b.rand == nil {
		// math/rand/v2's per-thread generator, called directly: a
		// float in [0, 1) from its top 53 bits.
		draw = float64(rand.Uint64()>>11) * 0x1p-53
	} else {
		draw = b.rand()
	}
	last := b.lastPass.Load()
	if draw*float64(req+1) >= num {
		// Admitted. Note it for the probe, but not on every call: an
		// up-to-date lastPass within probeSlack is enough.
		if now-last > b.probeSlack {
			b.lastPass.Store(now)
		}
		return true
	}
	// A probe: while almost every call is rejected, nothing went through
	// for a probe interval, so this one does, whatever the odds; one
	// caller wins the interval. Below probeFloor the formula admits
	// enough calls by itself to learn of a recovery, and a probe would
	// only switch it off at low traffic, where every call comes a probe
	// interval after the last.
	if now-last >= b.probe && num >= probeFloor*float64(req+1) && b.lastPass.CompareAndSwap(last, now) {
		return true
	}
	b.rejs[stripe()].n.Add(1)
	return false
}

// Do calls fn with ctx if the breaker admits the call and records its
// outcome; otherwise it returns an error matching [ErrServiceUnavailable]
// without calling fn. It returns fn's error unchanged.
//
// Outcomes: nil and acceptable errors ([WithAcceptable]) are successes;
// context.Canceled, and any error returned after the caller canceled ctx,
// count as nothing, the caller having given up rather than the dependency
// failed; context.DeadlineExceeded and every other error are failures. A
// panic in fn counts as a failure and goes on unchanged to Do's caller, as
// does runtime.Goexit. If ctx is already done, Do returns ctx.Err() without
// calling fn or recording anything.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	return b.do(ctx, fn, nil)
}

// DoWithFallback is [Breaker.Do] with a fallback for rejected calls: when
// the breaker rejects the call, DoWithFallback returns fallback(ctx, err),
// err being the rejection. Errors of fn itself go back to the caller
// unchanged, not through fallback.
func (b *Breaker) DoWithFallback(ctx context.Context, fn func(context.Context) error, fallback func(context.Context, error) error) error {
	return b.do(ctx, fn, fallback)
}

func (b *Breaker) do(ctx context.Context, fn func(context.Context) error, fallback func(context.Context, error) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := b.now()
	if !b.admit(now) {
		if fallback != nil {
			return fallback(ctx, b.rejectErr)
		}
		return b.rejectErr
	}
	p := Promise{b: b, start: now}
	finished := false
	defer func() {
		if !finished { // fn panicked or called runtime.Goexit
			p.Reject()
		}
	}()
	err := fn(ctx)
	finished = true
	if err != nil && ctx.Err() == context.Canceled {
		return err
	}
	p.Done(err)
	return err
}

// Stats returns a snapshot of the breaker's rolling window.
func (b *Breaker) Stats() Stats {
	now := b.now()
	if now >= b.cur.Load().end.Load() {
		b.roll(now, true)
	}
	b.mu.Lock()
	var st Stats
	for i := range b.slots {
		s := &b.slots[i]
		st.Requests += s.req
		st.Accepts += s.acc
		st.Rejections += s.rej
	}
	// The current slot's totals are still zero; its counts are live.
	a, f := sum(&b.accs), b.fails.n.Load()
	st.Requests += a + f
	st.Accepts += a
	st.Rejections += sum(&b.rejs)
	b.mu.Unlock()
	st.Calls = st.Requests + st.Rejections
	st.Probability = b.probability(st.Requests, st.Accepts)
	st.Throttling = b.throttling.Load()
	return st
}
