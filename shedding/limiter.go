package shedding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ErrLimited is the error a [Limiter] rejects a call with, or an error
// matching it with [errors.Is] (a [*LimitedError] for a named limiter, such
// as the limiters of [Transport], named by host).
var ErrLimited = errors.New("shedding: concurrency limit reached")

// LimitedError is the rejection of a named limiter. It matches
// [ErrLimited] with [errors.Is]. A limiter builds its LimitedError once, so
// rejecting costs no allocation; it is never modified, so it is safe to
// share between goroutines.
type LimitedError struct {
	Name string // the limiter's name: a host for Transport
}

func (e *LimitedError) Error() string {
	return "shedding: " + e.Name + ": concurrency limit reached"
}

// Is reports whether target is [ErrLimited].
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// LimiterEvent reports a change of a limiter's limit; see
// [WithLimiterEventHook].
type LimiterEvent struct {
	Name     string        // the limiter's name, "" if it has none
	Time     time.Time     // when the window closed, on the limiter's clock
	Limit    int           // the limit from now on (what is admitted while probing)
	Previous int           // the limit before
	Baseline time.Duration // the estimate of the unloaded latency
	Latency  time.Duration // the mean latency of the window just closed
	Probing  bool          // the limiter is clamped to re-measure the baseline
}

// LimiterStats is a snapshot of a limiter, a plain value.
type LimiterStats struct {
	Limit    int           // current limit of the Default class, see [Limiter.Limit]
	InFlight int           // calls holding a permit
	Queued   int           // callers waiting for a permit
	Baseline time.Duration // estimate of the unloaded latency; 0 until measured
	Latency  time.Duration // mean latency of the last closed window
	Probing  bool          // clamped to the minimum to re-measure the baseline
	// Per class, indexed by [Priority.Index].
	Acquired [NumPriorities]int64 // tokens handed out
	Rejected [NumPriorities]int64 // calls turned away
	Drops    int64                // calls that ended in an overload signal
}

// Limiter is an adaptive concurrency limit: it caps the calls in flight to
// a dependency and moves the cap with the dependency's latency, so that the
// dependency works at full capacity with a short queue instead of drowning
// in one. It answers "may I send another call now?"; it does not time or
// retry calls.
//
// A Limiter is safe for concurrent use by multiple goroutines. Make one
// with [NewLimiter]; the zero value is not usable. It starts no goroutine.
//
// # The algorithm
//
// The limiter is a gradient limit in the family of TCP Vegas, Netflix's
// Gradient2 and envoy's adaptive concurrency filter. Calls report their
// latency through [Permit.Done]; the limiter averages them over a window
// (at least [WithWindow], twice the recent latency and 10 samples) and,
// when a window closes, compares its mean latency with a baseline, the
// estimate of the dependency's latency without a queue:
//
//   - g = mean / baseline. If g exceeds the tolerance ([WithTolerance],
//     1.25) or a call timed out, the dependency is queueing: the limit
//     becomes limit × (1 + (tolerance-1)/2) / g, at most halving per window.
//     When the dependency has W workers and the limit L is above W, the
//     mean latency grows as L/W, so that step lands on W plus half the
//     tolerated queue in one window.
//   - Otherwise, if the window used at least half the limit, the limit
//     grows by √limit × (tolerance - g) / (tolerance - 1), at least 1 and
//     at most √limit: quick from far below, gentle as the latency nears
//     the tolerance, so it does not overshoot far.
//   - Otherwise the limit is under-used, and it decays at once to twice
//     the most calls in flight seen in the last 10 windows, plus one, if
//     that is lower. A limit that stays high while the demand is low (the
//     initial limit, or one left by an old burst) would let a sudden flood
//     in all at once, and the dependency would queue that first wave for
//     as long as it takes to serve it; kept near the demand, the limit
//     meets a flood with a small wave and finds the dependency's level
//     from there in a few windows. The headroom of twice the peak lets
//     the demand double between windows without a rejection, and a window
//     that uses half the limit or more grows it again.
//   - Never below [WithMinLimit] nor above [WithMaxLimit].
//
// The baseline is where such limits go wrong. failsafe-go's #127: a
// baseline that follows recent latency drifts up during a long incident
// and the limit stops falling; Netflix concurrency-limits #134/#135:
// Gradient2's long-term average, plus a queue allowance added every window,
// lets the limit climb under moderate overload. Here the baseline is only
// ever raised by a clean measurement: a window in which the limiter used at
// most half of its limit (the dependency was not queueing our calls), or
// one run at the minimum limit. While the limiter is saturated the baseline
// can only fall (to a smoothed mean), so it cannot drift up with the
// queue. Because a baseline measured long ago may be stale (the dependency
// became slower for good), after [WithProbeInterval] of saturation without
// a clean window the limiter probes, as envoy does: it admits only a
// quarter of its limit (at least the minimum), waits for its calls in
// flight to drain to that, measures a window of 60 calls started after
// that, takes their mean as the baseline and restores the limit. A quarter
// of a limit that sits a little above the dependency's concurrency leaves
// the dependency without a queue, so the probe measures it unloaded while
// costing a few round trips of reduced throughput (about 1% of the time in
// the tests). A limit pushed down to the minimum measures the baseline the
// same way at once. A cold limiter takes its first window as the baseline
// if it was clean (at most half the limit in use) and otherwise probes at
// the minimum, over 20 calls.
//
// # Outcomes
//
// [Permit.Done] with a nil error is a latency sample. context.Canceled is
// the caller's business: neutral. context.DeadlineExceeded and timeouts
// ([WithOverload]) and [Permit.Drop] are overload signals: their latency
// counts and they shrink the limit by at least 10%. Any other error is
// neutral: a failing dependency is the breaker's business.
//
// # Priorities
//
// Each class may fill its own share of the limit: [Sheddable] half of it,
// [Default] all of it, [Critical] a quarter more. A flood of sheddable work
// therefore leaves half the limit to the rest, and critical work always
// has headroom; as the limit shrinks, the lower classes are cut first.
// Waiters ([WithMaxWait]) are served highest class first.
type Limiter struct {
	// Read by every call, written when a window closes or a caller waits.
	caps     [NumPriorities]atomic.Int64 // admission cap per class
	waiting  atomic.Int64                // callers in the queue
	probing  atomic.Int32                // probeOff, probeDrain or probeMeasure
	winEnd   atomic.Int64                // offset at which the window may close, ns
	winStart atomic.Int64                // offset at which the window started, ns
	shown    atomic.Int64                // the limit, rounded, for Limit and Stats
	probeN   atomic.Int64                // samples the probe in progress needs

	epoch     time.Time
	clock     Clock // nil: the monotonic clock
	overload  func(error) bool
	hook      func(LimiterEvent)
	logger    *slog.Logger
	name      string
	rejectErr error
	maxWait   time.Duration
	maxQueue  int

	// Written by every call. They share one cache line (64 bytes), apart
	// from the fields above, so that a call moves one line between cores
	// rather than one per counter, and the read-mostly fields stay in
	// every core's cache.
	_        [64]byte
	inflight atomic.Int64
	sum      atomic.Int64 // latency in the window, ns
	n        atomic.Int64 // samples in the window
	peak     atomic.Int64 // most calls in flight seen by a Done in the window
	drops    atomic.Int64 // overload signals in the window
	acquired [NumPriorities]atomic.Int64
	_        [64]byte

	rejected [NumPriorities]atomic.Int64
	dropped  atomic.Int64

	mu        sync.Mutex // guards the fields below; the hot path only TryLocks it
	limit     float64
	minLimit  float64
	maxLimit  float64
	tolerance float64
	window    int64 // shortest window, ns
	probeIvl  int64 // ns
	baseline  float64
	smoothed  float64
	latency   float64              // mean of the last window, ns
	lastClean int64                // offset of the last clean measurement, ns
	saved     float64              // limit to restore after a probe
	lastLog   int64                // offset of the last log record, ns; 0: none yet
	peaks     [peakWindows]float64 // most calls in flight of the last windows, a ring
	peakAt    int                  // next slot of peaks

	qmu    sync.Mutex          // guards queue
	queue  [NumPriorities]list // waiters per class, FIFO
	qlimit atomic.Int64        // queue bound: min(maxQueue, limit)
}

const (
	probeOff = iota
	probeDrain
	probeMeasure
)

// minSamples is the fewest samples a window closes with, probeSamples the
// fewest a probe's window closes with; a cold limiter's probe, which runs
// at the minimum limit, makes do with coldSamples.
const (
	minSamples   = 10
	probeSamples = 60
	coldSamples  = 20
)

// peakWindows is how many windows the recent peak of calls in flight spans;
// an under-used limit decays to headroom times that peak, plus one.
const (
	peakWindows = 10
	headroom    = 2
)

// shares are the fractions of the limit each class may fill.
var shares = [NumPriorities]float64{0.5, 1, 1.25}

// NewLimiter returns a limiter configured by opts, or an error describing
// every invalid option.
func NewLimiter(opts ...LimiterOption) (*Limiter, error) {
	c := defaultLimiterConfig()
	for _, o := range opts {
		o.applyLimiter(&c)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return newLimiter(&c), nil
}

func newLimiter(c *limiterConfig) *Limiter {
	l := &Limiter{
		clock:     c.clock,
		overload:  c.overload,
		hook:      c.hook,
		logger:    c.logger,
		name:      c.name,
		rejectErr: ErrLimited,
		maxWait:   c.maxWait,
		maxQueue:  c.maxQueue,
		limit:     float64(c.initial),
		minLimit:  float64(c.min),
		maxLimit:  float64(c.max),
		tolerance: c.tolerance,
		window:    int64(c.window),
		probeIvl:  int64(c.probe),
	}
	if c.name != "" {
		l.rejectErr = &LimitedError{Name: c.name}
	}
	if l.clock != nil {
		l.epoch = l.clock.Now()
	} else {
		l.epoch = time.Now()
	}
	l.winEnd.Store(l.window)
	l.setCaps(l.limit, false)
	l.shown.Store(int64(c.initial))
	return l
}

// Name returns the limiter's name, "" if it has none.
func (l *Limiter) Name() string { return l.name }

// now returns the time since the limiter was made, in ns: one clock read.
func (l *Limiter) now() int64 {
	if l.clock == nil {
		return int64(time.Since(l.epoch))
	}
	return int64(l.clock.Now().Sub(l.epoch))
}

// setCaps publishes the admission caps for limit; while probing every class
// gets the limit itself. Called under mu (or before the limiter is shared).
func (l *Limiter) setCaps(limit float64, probing bool) {
	for i := range l.caps {
		c := limit
		if !probing {
			c = limit * shares[i]
		}
		l.caps[i].Store(max(1, int64(math.Round(c))))
	}
	l.qlimit.Store(min(int64(l.maxQueue), max(1, int64(math.Round(limit)))))
}

// Permit is the permission to make one call. Report how the call went with
// exactly one of [Permit.Done], [Permit.Drop] or [Permit.Release]. It is a
// small value, not a pointer, so that acquiring one allocates nothing. The
// zero Permit (from a rejection) ignores those calls.
type Permit struct {
	l     *Limiter
	start int64 // offset on the limiter's clock, ns
	class int8  // Priority.Index
}

// Acquire returns a permit for a call of the [Default] class, waiting for a
// slot up to the limiter's max wait ([WithMaxWait]) or until ctx is done.
// It fails with ctx.Err() if ctx is done, and with [ErrLimited] (or a
// [*LimitedError]) if no slot frees up in time.
func (l *Limiter) Acquire(ctx context.Context) (Permit, error) {
	return l.AcquirePriority(ctx, Default)
}

// AcquirePriority is [Limiter.Acquire] for a call of class p.
func (l *Limiter) AcquirePriority(ctx context.Context, p Priority) (Permit, error) {
	if err := ctx.Err(); err != nil {
		return Permit{}, err
	}
	t, err := l.TryAcquirePriority(p)
	if err == nil || l.maxWait <= 0 || !p.Valid() {
		return t, err
	}
	return l.wait(ctx, p)
}

// TryAcquire returns a permit for a call of the [Default] class if the limit
// allows one now, and [ErrLimited] (or a [*LimitedError]) otherwise. It
// never waits.
func (l *Limiter) TryAcquire() (Permit, error) { return l.TryAcquirePriority(Default) }

// TryAcquirePriority is [Limiter.TryAcquire] for a call of class p.
func (l *Limiter) TryAcquirePriority(p Priority) (Permit, error) {
	if !p.Valid() {
		return Permit{}, fmt.Errorf("shedding: invalid priority %d", int8(p))
	}
	i := p.Index()
	// A caller does not pass those already waiting.
	if l.waiting.Load() == 0 {
		c := l.caps[i].Load()
		for n := l.inflight.Load(); n < c; n = l.inflight.Load() {
			if l.inflight.CompareAndSwap(n, n+1) {
				l.acquired[i].Add(1)
				return Permit{l: l, start: l.now(), class: int8(i)}, nil
			}
		}
	}
	l.rejected[i].Add(1)
	return Permit{}, l.rejectErr
}

// Do runs fn under a permit of the [Default] class acquired with
// [Limiter.Acquire], and reports fn's error to [Permit.Done]. If fn panics
// the slot is released and the panic goes on.
func (l *Limiter) Do(ctx context.Context, fn func(context.Context) error) error {
	t, err := l.Acquire(ctx)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			t.Release()
		}
	}()
	err = fn(ctx)
	done = true
	t.Done(err)
	return err
}

// Done reports the end of the call: a nil err makes its latency a sample,
// an overload error (see [WithOverload]) makes it an overload signal, and
// any other error, context.Canceled included, only frees the slot.
func (t Permit) Done(err error) {
	if t.l == nil {
		return
	}
	kind := outcomeSample
	if err != nil {
		kind = t.l.classify(err)
	}
	t.l.finish(t, kind)
}

// Drop reports that the dependency shed the call or it took too long: an
// overload signal, like a timeout.
func (t Permit) Drop() {
	if t.l != nil {
		t.l.finish(t, outcomeDrop)
	}
}

// Release frees the slot without teaching the limiter anything, as for a
// call the caller abandoned before it reached the dependency.
func (t Permit) Release() {
	if t.l != nil {
		t.l.finish(t, outcomeNeutral)
	}
}

const (
	outcomeSample = iota
	outcomeDrop
	outcomeNeutral
)

func (l *Limiter) classify(err error) int {
	if errors.Is(err, context.Canceled) {
		return outcomeNeutral
	}
	if l.overload != nil {
		if l.overload(err) {
			return outcomeDrop
		}
		return outcomeNeutral
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return outcomeDrop
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return outcomeDrop
	}
	return outcomeNeutral
}

func (l *Limiter) finish(t Permit, kind int) {
	now := l.now()
	n := l.inflight.Add(-1) + 1 // calls in flight with this one
	if l.waiting.Load() > 0 {
		l.handoff()
	}
	if n > l.peak.Load() {
		l.raisePeak(n)
	}
	if kind == outcomeDrop {
		l.dropped.Add(1)
	}
	if p := l.probing.Load(); p != probeOff {
		if p == probeDrain {
			if n <= l.caps[1].Load() {
				l.startMeasure(now)
			}
			return
		}
		if t.start < l.winStart.Load() {
			return // started before the probe's window: queued behind older calls
		}
	}
	if kind == outcomeNeutral {
		return
	}
	if kind == outcomeDrop {
		l.drops.Add(1)
	}
	l.sum.Add(max(now-t.start, 0)) // a clock that steps back gives no negative latency
	if n := l.n.Add(1); n >= minSamples && now >= l.winEnd.Load() && (n >= l.probeN.Load() || l.probing.Load() == probeOff) && l.mu.TryLock() {
		e, ok := l.closeWindow(now)
		l.mu.Unlock()
		l.trim()
		if l.waiting.Load() > 0 {
			l.handoff()
		}
		if ok {
			if l.hook != nil {
				l.hook(e)
			}
			if l.logger != nil {
				l.log(e, now)
			}
		}
	}
}

// logInterval is the least time between two log records of a limiter.
const logInterval = int64(10 * time.Second)

// log records e if it is notable and the last record is old enough.
func (l *Limiter) log(e LimiterEvent, now int64) {
	cut := !e.Probing && e.Limit*4 <= e.Previous*3
	if !e.Probing && !cut {
		return
	}
	l.mu.Lock()
	if l.lastLog != 0 && now-l.lastLog < logInterval {
		l.mu.Unlock()
		return
	}
	l.lastLog = now
	l.mu.Unlock()
	attrs := []any{"limiter", e.Name, "limit", e.Limit, "previous", e.Previous, "baseline", e.Baseline, "latency", e.Latency}
	if e.Probing {
		l.logger.Info("shedding: limiter probing the unloaded latency", attrs...)
	} else {
		l.logger.Warn("shedding: limiter cut the limit, the dependency is queueing", attrs...)
	}
}

func (l *Limiter) raisePeak(n int64) {
	for p := l.peak.Load(); n > p; p = l.peak.Load() {
		if l.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// startMeasure ends the drain of a probe: the calls in flight are down to
// the minimum, so a window starting now measures the unloaded latency.
func (l *Limiter) startMeasure(now int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.probing.Load() != probeDrain {
		return
	}
	l.resetWindow(now)
	l.probing.Store(probeMeasure)
}

// resetWindow starts a new window at now. Called under mu.
func (l *Limiter) resetWindow(now int64) {
	l.sum.Store(0)
	l.n.Store(0)
	l.drops.Store(0)
	l.peak.Store(l.inflight.Load())
	l.winStart.Store(now)
	w := max(l.window, int64(2*l.latency))
	if l.probing.Load() != probeOff {
		w = l.window
	}
	l.winEnd.Store(now + w)
}

// closeWindow adjusts the limit from the window that ends at now. It
// returns the event to report, if the limit changed. Called under mu.
func (l *Limiter) closeWindow(now int64) (LimiterEvent, bool) {
	if now < l.winEnd.Load() {
		return LimiterEvent{}, false // another Done closed it first
	}
	sum, n, drops, peak := l.sum.Swap(0), l.n.Swap(0), l.drops.Swap(0), l.peak.Swap(l.inflight.Load())
	if n <= 0 {
		l.resetWindow(now)
		return LimiterEvent{}, false
	}
	mean := max(float64(sum)/float64(n), 1) // at least 1 ns: the baseline divides
	l.latency = mean
	prev := l.limit
	wasProbing := l.probing.Load() != probeOff
	limit := l.limit
	fpeak := float64(peak)
	clean := fpeak <= l.minLimit*shares[NumPriorities-1] || 2*fpeak <= limit
	if !wasProbing {
		l.peaks[l.peakAt] = fpeak
		l.peakAt = (l.peakAt + 1) % peakWindows
	}

	switch {
	case wasProbing:
		l.baseline, l.smoothed, l.lastClean = mean, mean, now
		limit = l.saved
		l.probing.Store(probeOff)
	case l.baseline == 0:
		if clean {
			l.baseline, l.smoothed, l.lastClean = mean, mean, now
			limit = l.decay(limit, fpeak)
		}
	default:
		l.smoothed = 0.75*l.smoothed + 0.25*mean
		switch {
		case fpeak <= l.minLimit*shares[NumPriorities-1]:
			l.baseline, l.lastClean = mean, now
		case 2*fpeak <= limit:
			l.baseline, l.lastClean = 0.75*l.baseline+0.25*mean, now
		case l.smoothed < l.baseline:
			l.baseline = l.smoothed
		}
		g := mean / l.baseline
		switch {
		case drops > 0 || g > l.tolerance:
			target := limit * (1 + (l.tolerance-1)/2) / g
			if drops > 0 {
				target = min(target, 0.9*limit)
			}
			limit = max(limit/2, target)
		case 2*fpeak >= limit:
			// The closer to the tolerance, the smaller the step.
			limit += max(1, math.Sqrt(limit)*min(1, (l.tolerance-g)/(l.tolerance-1)))
		default:
			limit = l.decay(limit, fpeak)
		}
	}
	limit = min(max(limit, l.minLimit), l.maxLimit)
	l.limit = limit

	probe := !wasProbing && (l.baseline == 0 || (now-l.lastClean > l.probeIvl && !clean))
	probeAt := l.minLimit
	if probe {
		// A cold limiter knows nothing of the dependency and probes at
		// the minimum; later probes at a quarter of the limit, below the
		// dependency's own concurrency unless the limit is four times too
		// high, which the latency would have shown.
		l.probeN.Store(coldSamples)
		if l.baseline > 0 {
			probeAt = max(probeAt, math.Round(limit/4))
			l.probeN.Store(probeSamples)
		}
		l.saved = limit
		l.probing.Store(probeDrain)
		l.setCaps(probeAt, true)
	} else {
		l.setCaps(limit, false)
	}
	l.shown.Store(int64(math.Round(limit)))
	l.resetWindow(now)
	if probe && l.inflight.Load() <= l.caps[1].Load() {
		l.resetWindow(now)
		l.probing.Store(probeMeasure)
	}
	e := LimiterEvent{
		Name:     l.name,
		Time:     l.epoch.Add(time.Duration(now)),
		Limit:    int(math.Round(limit)),
		Previous: int(math.Round(prev)),
		Baseline: time.Duration(l.baseline),
		Latency:  time.Duration(mean),
		Probing:  probe,
	}
	if probe {
		e.Limit = int(probeAt)
	}
	return e, e.Limit != e.Previous || probe || wasProbing
}

// decay returns the limit after a window that used less than half of it:
// at most headroom times the recent peak of calls in flight, plus one, so
// that a limit set high (the initial one, or one left by a burst) does not
// stay far above the demand and let a sudden flood in all at once. The
// caller clamps the result to the min limit. Called under mu.
func (l *Limiter) decay(limit, fpeak float64) float64 {
	if 2*fpeak >= limit {
		return limit
	}
	recent := fpeak
	for _, p := range l.peaks {
		recent = max(recent, p)
	}
	return min(limit, headroom*recent+1)
}

// Limit returns the current limit: the most calls of the [Default] class
// in flight at once. While the limiter probes ([LimiterStats.Probing]) it
// admits fewer for one window, but its limit stays.
func (l *Limiter) Limit() int { return int(l.shown.Load()) }

// Probing reports whether the limiter is re-measuring the dependency's
// unloaded latency, admitting fewer calls than its limit for one window.
func (l *Limiter) Probing() bool { return l.probing.Load() != probeOff }

// Stats returns a snapshot of the limiter.
func (l *Limiter) Stats() LimiterStats {
	s := LimiterStats{
		Limit:    l.Limit(),
		InFlight: int(l.inflight.Load()),
		Queued:   int(l.waiting.Load()),
		Probing:  l.probing.Load() != probeOff,
		Drops:    l.dropped.Load(),
	}
	for i := range s.Acquired {
		s.Acquired[i] = l.acquired[i].Load()
		s.Rejected[i] = l.rejected[i].Load()
	}
	l.mu.Lock()
	s.Baseline = time.Duration(l.baseline)
	s.Latency = time.Duration(l.latency)
	l.mu.Unlock()
	return s
}
