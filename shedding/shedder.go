package shedding

import (
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// ErrShed is the error [Shedder.Allow] turns a request away with.
var ErrShed = errors.New("shedding: request shed, server overloaded")

// ErrNoSignal is matched (errors.Is) by the error [New] returns when the
// built-in overload signal cannot be read here; the error says what was
// tried. Give a [LoadSource] with [WithLoadSource], or choose another
// [Signal].
var ErrNoSignal = errors.New("shedding: no overload signal")

// Event reports that a shedder started or stopped shedding; see
// [WithEventHook].
type Event struct {
	Shedding bool      // true: it dropped its first request; false: it stopped
	Load     int64     // load in permille when the change was seen
	InFlight int64     // requests in flight when the change was seen
	Bound    float64   // Little's-law in-flight bound when the change was seen
	Dropped  int64     // requests dropped in the episode; 0 when it starts
	Time     time.Time // when the change was seen, on the shedder's clock
}

// Stats is a snapshot of a shedder, a plain value.
type Stats struct {
	Source      string        // the signal in use: "cgroup2", "cgroup1", "host", "psi-cgroup2", "psi-host" or "custom"
	Load        int64         // the last load read, in permille; a built-in signal reads 0 until its first sample interval is over
	Overloaded  bool          // Load was at or above the threshold at the last bucket boundary
	Shedding    bool          // it has dropped a request and not yet stopped shedding
	InFlight    int64         // requests admitted and not yet finished
	AvgInFlight float64       // the smoothed in-flight count
	Bound       float64       // in-flight bound: MaxPass per bucket × MinRT / bucket length
	MaxPass     int64         // the most requests completed in one bucket of the window
	MinRT       time.Duration // the least mean round trip of a bucket of the window
	Marginal    Priority      // the class held at the bound: the highest shed in the last bucket, else the lowest that arrived
	// Admitted and Dropped count requests since the shedder was made, per
	// class, indexed by [Priority.Index].
	Admitted [NumPriorities]int64
	Dropped  [NumPriorities]int64
}

// shedStripes spreads counters written on every request over this many cache
// lines, so that requests finishing at once on different cores seldom write
// the same line. A power of two.
const shedStripes = 8

// shedCounter is an atomic shedCounter alone on its pair of cache lines (cores
// prefetch lines in adjacent pairs).
type shedCounter struct {
	n atomic.Int64
	_ [120]byte
}

type striped [shedStripes]shedCounter

// Bits of Shedder.state.
const (
	stShedding   = 1 << 0 // a drop since the last calm spell
	stDroppedOv  = 1 << 1 // a drop while overloaded, since the last bucket boundary
	stLevelShift = 2      // bits 2-3: 1 + the highest class shed in the bucket in progress, 0 if none
	stLevelMask  = 3 << stLevelShift
)

func (s *striped) sum() (n int64) {
	for i := range s {
		n += s[i].n.Load()
	}
	return n
}

func (s *striped) swap() (n int64) {
	for i := range s {
		n += s[i].n.Swap(0)
	}
	return n
}

// stripe picks a shedCounter for the calling goroutine: the address of a local
// variable is the same for every call a goroutine makes from one place and
// differs between goroutines, whose stacks are apart, so each busy
// goroutine keeps writing the line in its own core's cache. Any shedCounter is
// correct, since reads sum them all. The pointer becomes a number at once;
// the variable stays on the stack.
func shedStripe() int {
	var anchor byte
	return int(uint64(uintptr(unsafe.Pointer(&anchor))>>12) * 0x9E3779B97F4A7C15 >> 61)
}

// slot is one bucket of the window. While its bucket is current it also
// carries what Allow decides on, computed once at the bucket's start and
// never written again while it is current, so it stays in every core's
// cache.
type slot struct {
	idx atomic.Int64 // absolute bucket number
	end atomic.Int64 // offset at which the bucket ends, ns
	// hotUntil: offset before which the shedder looks at in-flight counts:
	// MaxInt64 while overloaded, the end of the cool-off after it, 0 when
	// calm.
	hotUntil atomic.Int64
	level    atomic.Int32 // the marginal class: the highest class shed in the previous bucket, 0 if none
	// limits[c][l]: the in-flight count above which class c is shed while
	// l is the marginal class (float64 bits), from the bucket's bound, so
	// that Allow looks a limit up instead of computing it.
	limits [NumPriorities][NumPriorities]atomic.Uint64

	// Totals of the bucket once it is over; guarded by Shedder.mu.
	pass int64
	rt   int64 // sum of round trips, ns
}

// Shedder turns requests away while the process is overloaded and more
// requests are in flight than it can finish in their round trip (BBR, as in
// go-zero's adaptive shedder, with priority classes). See the package
// documentation for the algorithm.
//
// A Shedder is safe for concurrent use by multiple goroutines. Make one
// with [New] and Close it when done; the zero value is not usable.
type Shedder struct {
	// Read by every call, written at bucket rollover only.
	cur        atomic.Pointer[slot]
	width      int64 // bucket length, ns
	n          int64 // buckets in the window
	threshold  int64
	coolOff    int64
	flyingBeta float64
	coldRT     float64 // ns
	headroom   float64
	minFlight  float64
	start      time.Time
	clock      Clock // nil: the monotonic clock
	source     LoadSource
	sampler    *sampler
	hook       func(Event)
	logger     *slog.Logger
	logEvery   int64
	slots      []slot

	_         [64]byte
	gate      atomic.Int64 // the last bucket a goroutine claimed to roll to
	avgFlying atomic.Uint64
	closed    atomic.Bool
	_         [120]byte
	// state holds what drops have noted (stShedding, stDroppedOv, the
	// class level) in one word, 128 bytes clear of avgFlying (written by
	// hot admissions) and of the counters, so that a drop which notes
	// nothing new only reads a line that stays in every core's cache.
	state atomic.Uint32
	_     [124]byte

	inflight striped
	pass     striped // completions of the bucket in progress
	rt       striped // their round trips, ns
	admitted [NumPriorities]striped
	dropped  [NumPriorities]striped

	mu         sync.Mutex // serialises rollovers; guards the slots' totals and the fields below
	load       int64
	overloaded bool
	maxPass    int64
	minRT      float64
	bound      float64
	episode    int64                // total drops when the shedding episode started
	arrived    [NumPriorities]int64 // arrivals per class up to the last bucket boundary
	lastLog    int64                // offset of the last log record, ns; -1: none yet
	closeOnce  sync.Once
}

// New returns a shedder configured by opts, or an error describing every
// invalid option. Unless [WithLoadSource] gives a load source, it finds the
// built-in signal ([WithSignal]) and shares (or starts) the goroutine that
// samples it; if the signal cannot be read here it returns an error
// matching [ErrNoSignal].
func New(opts ...Option) (*Shedder, error) {
	c, err := build(opts)
	if err != nil {
		return nil, err
	}
	s := &Shedder{
		width:      int64(c.window) / int64(c.buckets),
		n:          int64(c.buckets),
		threshold:  c.threshold,
		coolOff:    int64(c.coolOff),
		flyingBeta: c.flyingBeta,
		coldRT:     float64(c.coldRT),
		headroom:   c.headroom,
		minFlight:  float64(c.minFlight),
		clock:      c.clock,
		source:     c.source,
		hook:       c.hook,
		logger:     c.logger,
		logEvery:   int64(c.logInterval),
		slots:      make([]slot, c.buckets),
		lastLog:    -1,
	}
	if s.source == nil {
		smp, err := acquireSampler(samplerKey{signal: c.signal, interval: c.interval, beta: c.loadBeta, root: c.root})
		if err != nil {
			return nil, err
		}
		s.sampler = smp
	}
	if s.clock != nil {
		s.start = s.clock.Now()
	} else {
		s.start = time.Now()
	}
	// Bucket 0 starts calm, with the cold bound; the first rollover reads
	// the load.
	s.maxPass, s.minRT = 1, s.coldRT
	s.bound = max(1, s.minRT/float64(s.width))
	sl := &s.slots[0]
	sl.end.Store(s.width)
	s.setLimits(sl, s.bound)
	s.cur.Store(sl)
	s.load = s.readLoad()
	if s.load >= s.threshold {
		s.overloaded = true
		sl.hotUntil.Store(math.MaxInt64)
	}
	return s, nil
}

// Close releases the shedder's share of the sampling goroutine, waiting for
// the goroutine to end if this was the last shedder using it. After Close
// the shedder reads no load and admits every request. Close is idempotent
// and always returns nil.
func (s *Shedder) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.sampler != nil {
			releaseSampler(s.sampler)
		}
	})
	return nil
}

func (s *Shedder) readLoad() int64 {
	if s.closed.Load() {
		return 0
	}
	if s.source != nil {
		return s.source.Load()
	}
	return s.sampler.load.Load()
}

func (s *Shedder) sourceName() string {
	if s.source != nil {
		return "custom"
	}
	return s.sampler.sourceName()
}

// now returns the time since the shedder was made, in ns.
func (s *Shedder) now() int64 {
	if s.clock == nil {
		return int64(time.Since(s.start))
	}
	return int64(s.clock.Now().Sub(s.start))
}

// roll moves the window to the bucket holding now. The first goroutine to
// find a bucket over claims the rollover with one compare-and-swap, reads
// the load outside any lock, and then updates the window under mu; the
// others go on with the previous bucket for the moment that takes.
func (s *Shedder) roll(now int64) {
	idx := now / s.width
	g := s.gate.Load()
	if idx <= g || !s.gate.CompareAndSwap(g, idx) {
		return
	}
	load := s.readLoad()

	s.mu.Lock()
	cs := s.cur.Load()
	c := cs.idx.Load()
	if idx <= c {
		s.mu.Unlock()
		return
	}
	cs.pass, cs.rt = s.pass.swap(), s.rt.swap()
	gap := min(idx-c, s.n)
	for j := idx - gap + 1; j <= idx; j++ {
		o := &s.slots[j%s.n]
		o.pass, o.rt = 0, 0
	}
	var maxPass int64 = 1
	minRT := math.Inf(1)
	for j := max(idx-s.n+1, 0); j < idx; j++ {
		o := &s.slots[j%s.n]
		maxPass = max(maxPass, o.pass)
		if o.pass > 0 {
			minRT = min(minRT, float64(o.rt)/float64(o.pass))
		}
	}
	if math.IsInf(minRT, 1) {
		minRT = s.coldRT
	}
	bound := max(1, float64(maxPass)*minRT/float64(s.width))
	s.load, s.maxPass, s.minRT, s.bound = load, maxPass, minRT, bound

	flying := float64(s.inflight.sum())
	s.smoothFlying(flying)

	next := &s.slots[idx%s.n]
	next.idx.Store(idx)
	next.end.Store((idx + 1) * s.width)
	s.setLimits(next, bound)
	noted := s.clearState(stLevelMask | stDroppedOv)
	next.level.Store(s.marginal(int32(noted>>stLevelShift) - 1))
	wasOver := s.overloaded
	s.overloaded = load >= s.threshold
	hotUntil := cs.hotUntil.Load()
	switch {
	case s.overloaded:
		hotUntil = math.MaxInt64
	case wasOver:
		hotUntil = 0
		if noted&stDroppedOv != 0 && s.coolOff > 0 {
			hotUntil = now + s.coolOff
		}
	}
	next.hotUntil.Store(hotUntil)
	if hotUntil <= now {
		// Calm: the average restarts from the count, so that the next
		// overload starts from the present rather than from the past.
		s.avgFlying.Store(math.Float64bits(flying))
	}
	s.cur.Store(next)

	var stop bool
	var ev Event
	if hotUntil <= now && s.clearState(stShedding)&stShedding != 0 {
		stop = true
		ev = Event{Load: load, InFlight: int64(flying), Bound: bound, Dropped: s.totalDropped() - s.episode, Time: s.start.Add(time.Duration(now))}
	}
	s.mu.Unlock()
	if stop {
		s.report(now, ev)
	}
}

// setLimits stores in sl the in-flight limits of every class and marginal
// class under bound: each class above the marginal one may take the count a
// headroom further, each below it is held a headroom lower, and none below
// the minimum in flight.
func (s *Shedder) setLimits(sl *slot, bound float64) {
	for c := range sl.limits {
		for l := range sl.limits[c] {
			limit := max(bound*(1+s.headroom*float64(c-l)), s.minFlight)
			sl.limits[c][l].Store(math.Float64bits(limit))
		}
	}
}

// clearState clears bits of s.state and returns the word as it was.
func (s *Shedder) clearState(bits uint32) uint32 {
	for {
		old := s.state.Load()
		if old&bits == 0 || s.state.CompareAndSwap(old, old&^bits) {
			return old
		}
	}
}

// marginal returns the class to hold at the bound in the next bucket: l,
// the highest class shed in the bucket just over or, if none was (l < 0),
// the lowest class that arrived in it. Called under mu.
func (s *Shedder) marginal(l int32) int32 {
	var arrived [NumPriorities]int64
	for c := range arrived {
		arrived[c] = s.admitted[c].sum() + s.dropped[c].sum()
	}
	if l < 0 {
		l = 0
		for c := range arrived {
			if arrived[c] > s.arrived[c] {
				l = int32(c)
				break
			}
		}
	}
	s.arrived = arrived
	return l
}

func (s *Shedder) totalDropped() (n int64) {
	for i := range s.dropped {
		n += s.dropped[i].sum()
	}
	return n
}

// smoothFlying moves the in-flight average towards flying.
func (s *Shedder) smoothFlying(flying float64) {
	for {
		old := s.avgFlying.Load()
		avg := math.Float64frombits(old)*s.flyingBeta + flying*(1-s.flyingBeta)
		if s.avgFlying.CompareAndSwap(old, math.Float64bits(avg)) {
			return
		}
	}
}

// Token is a request the shedder admitted: call [Token.Pass] when it has
// been served, or [Token.Fail] when it failed (a 5xx, an error, a panic),
// exactly once. A failure ends the request's in-flight count without
// counting its round trip, so that fast errors do not make the shedder
// think the server fast. The zero Token, returned with [ErrShed], does
// nothing.
//
// A Token is a small value rather than a pointer so that admitting a
// request does not allocate. It may be settled on another goroutine.
type Token struct {
	s     *Shedder
	start int64
}

// Pass records that the request was served, and its round trip.
func (t Token) Pass() {
	s := t.s
	if s == nil {
		return
	}
	rt := s.now() - t.start
	i := shedStripe()
	s.pass[i].n.Add(1)
	s.rt[i].n.Add(max(rt, 0))
	s.finish(i, rt+t.start)
}

// Fail records that the request failed; its round trip is not counted.
func (t Token) Fail() {
	s := t.s
	if s == nil {
		return
	}
	s.finish(shedStripe(), -1)
}

// Done is Pass when err is nil and Fail otherwise.
func (t Token) Done(err error) {
	if err == nil {
		t.Pass()
	} else {
		t.Fail()
	}
}

// finish ends a request's in-flight count; while the shedder is hot it also
// updates the in-flight average. now < 0: unknown.
func (s *Shedder) finish(i int, now int64) {
	s.inflight[i].n.Add(-1)
	sl := s.cur.Load()
	if h := sl.hotUntil.Load(); h == 0 || (now >= 0 && now >= h) {
		return
	}
	s.smoothFlying(float64(s.inflight.sum()))
}

// Allow decides whether a request of class p may go ahead. If it may, it
// returns a [Token] to settle when the request is over; if not, the zero
// Token and [ErrShed]. A p outside the three classes counts as the nearest
// class.
//
// Allow reads the clock once and does not allocate, whether it admits or
// sheds; it sums the in-flight counters only while the process is
// overloaded or cooling off. A drop reads the current bucket's limit and
// the shedder's state word and adds to one striped counter; it writes
// nothing else unless it is the first of its kind in the bucket.
func (s *Shedder) Allow(p Priority) (Token, error) {
	now := s.now()
	sl := s.cur.Load()
	if now >= sl.end.Load() {
		s.roll(now)
		sl = s.cur.Load()
	}
	c := min(max(int(p)+1, 0), NumPriorities-1)
	i := shedStripe()
	if hot := sl.hotUntil.Load(); now < hot {
		st := s.state.Load()
		level := max(int(sl.level.Load()), int(st>>stLevelShift&3)-1)
		limit := math.Float64frombits(sl.limits[c][level].Load())
		// The average forgives a burst at the onset of an overload; once
		// the shedder is shedding, the count alone decides.
		if float64(s.inflight.sum()) > limit && (st&stShedding != 0 || math.Float64frombits(s.avgFlying.Load()) > limit) {
			s.dropped[c][i].n.Add(1)
			// What this drop notes: shedding, a drop while overloaded,
			// its class. Usually all noted already, and then it writes
			// nothing more.
			flags, lv := uint32(stShedding), uint32(c+1)<<stLevelShift
			if hot == math.MaxInt64 {
				flags |= stDroppedOv
			}
			if st&flags != flags || lv > st&stLevelMask {
				s.note(flags, lv, now)
			}
			return Token{}, ErrShed
		}
		s.admitted[c][i].n.Add(1)
		s.inflight[i].n.Add(1)
		// While hot, admissions move the average too, or a flood would
		// be admitted wholesale while the average lags below the bound.
		s.smoothFlying(float64(s.inflight.sum()))
		return Token{s: s, start: now}, nil
	}
	s.admitted[c][i].n.Add(1)
	s.inflight[i].n.Add(1)
	return Token{s: s, start: now}, nil
}

// note sets flags (stShedding among them) in s.state, raises its class
// level to at least level, and reports the start of a shedding episode if
// it is the one that set stShedding.
func (s *Shedder) note(flags, level uint32, now int64) {
	for {
		old := s.state.Load()
		next := (old|flags)&^stLevelMask | max(old&stLevelMask, level)
		if next == old {
			return
		}
		if s.state.CompareAndSwap(old, next) {
			if old&stShedding != 0 {
				return
			}
			break
		}
	}
	s.mu.Lock()
	s.episode = s.totalDropped() - 1
	ev := Event{Shedding: true, Load: s.load, InFlight: s.inflight.sum(), Bound: s.bound, Time: s.start.Add(time.Duration(now))}
	s.mu.Unlock()
	s.report(now, ev)
}

// report tells the logger and the hook about a change, outside any lock.
// The logger hears at most one record per log interval.
func (s *Shedder) report(now int64, e Event) {
	if s.logger != nil {
		s.mu.Lock()
		ok := s.lastLog < 0 || now-s.lastLog >= s.logEvery
		if ok {
			s.lastLog = now
		}
		s.mu.Unlock()
		if ok {
			if e.Shedding {
				s.logger.Warn("shedding: overloaded, shedding requests", "load", e.Load, "inflight", e.InFlight, "bound", e.Bound)
			} else {
				s.logger.Info("shedding: stopped shedding", "load", e.Load, "dropped", e.Dropped)
			}
		}
	}
	if s.hook != nil {
		s.hook(e)
	}
}

// Stats returns a snapshot of the shedder as of its last bucket boundary,
// with the in-flight count and the totals as of now.
func (s *Shedder) Stats() Stats {
	st := Stats{
		Marginal:    Priority(s.cur.Load().level.Load() - 1),
		Source:      s.sourceName(),
		Shedding:    s.state.Load()&stShedding != 0,
		InFlight:    s.inflight.sum(),
		AvgInFlight: math.Float64frombits(s.avgFlying.Load()),
	}
	for i := range st.Admitted {
		st.Admitted[i] = s.admitted[i].sum()
		st.Dropped[i] = s.dropped[i].sum()
	}
	s.mu.Lock()
	st.Load, st.Overloaded, st.Bound, st.MaxPass = s.load, s.overloaded, s.bound, s.maxPass
	st.MinRT = time.Duration(s.minRT)
	s.mu.Unlock()
	return st
}
