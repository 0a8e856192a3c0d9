package limit

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Status classifies a [Result] the way go-zero's PeriodLimit does.
type Status int

// Statuses of a Result.
const (
	// StatusAllowed: the request passed and quota is left.
	StatusAllowed Status = iota + 1
	// StatusHitQuota: the request passed and used the last of the quota.
	StatusHitQuota
	// StatusOverQuota: the request was rejected.
	StatusOverQuota
)

func (s Status) String() string {
	switch s {
	case StatusAllowed:
		return "allowed"
	case StatusHitQuota:
		return "hit quota"
	case StatusOverQuota:
		return "over quota"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Status tells whether r was allowed with quota left, allowed with the last
// of the quota, or rejected.
func (r Result) Status() Status {
	switch {
	case !r.Allowed:
		return StatusOverQuota
	case r.Remaining == 0:
		return StatusHitQuota
	}
	return StatusAllowed
}

func checkWindowArgs(quota int, period time.Duration, what string) error {
	if quota < 1 || quota > MaxQuota {
		return fmt.Errorf("limit: quota must be between 1 and %d, got %d", MaxQuota, quota)
	}
	if period <= 0 || period > MaxRefill {
		return fmt.Errorf("limit: %s must be between 1ns and %v, got %v", what, MaxRefill, period)
	}
	return nil
}

// fixedShared is what a fixed window and the keys of a Keyed made from it
// share.
type fixedShared struct {
	quota  int
	period int64
	loc    *time.Location // nil: windows start with the first request
	tb     timeBase
}

// fixedState is the state of one fixed window.
type fixedState struct {
	mu    sync.Mutex // guards the fields below
	start int64      // window start, ns since the origin
	end   int64      // window end; end <= start: no window yet
	count int64      // units admitted in [start, end)
	dead  bool       // evicted from a Keyed
}

// FixedWindow admits up to quota units per window of one period. By
// default a window starts with the first request after the previous one
// ended; with [WithCalendar] windows follow the wall clock of a time zone
// (every hour on the hour, every day at midnight). A fixed window admits up
// to twice its quota across the edge between two windows; [SlidingWindow]
// does not.
//
// Each call takes a short lock of its own (no allocation, no clock read
// beyond one); windows never wrap around, whatever the idle time.
//
// A FixedWindow is safe for concurrent use by multiple goroutines. Make one
// with [NewFixedWindow]; the zero value is not usable.
type FixedWindow struct {
	st fixedState
	s  *fixedShared
}

// NewFixedWindow returns a limiter of quota units (1 to [MaxQuota]) per
// period (up to [MaxRefill]; with [WithCalendar], a period that divides 24
// hours).
func NewFixedWindow(quota int, period time.Duration, opts ...FixedWindowOption) (*FixedWindow, error) {
	if err := checkWindowArgs(quota, period, "period"); err != nil {
		return nil, err
	}
	var cfg fixedConfig
	for _, o := range opts {
		if o != nil {
			o.applyFixedWindow(&cfg)
		}
	}
	if cfg.loc == nilLocation {
		return nil, fmt.Errorf("limit: nil calendar location")
	}
	if cfg.loc != nil && (24*time.Hour)%period != 0 {
		return nil, fmt.Errorf("limit: a calendar-aligned period must divide 24h, got %v", period)
	}
	tb, err := newTimeBase(cfg.commonConfig)
	if err != nil {
		return nil, err
	}
	w := &FixedWindow{s: &fixedShared{quota: quota, period: int64(period), loc: cfg.loc, tb: tb}}
	w.st.end = math.MinInt64
	return w, nil
}

// Allow reports whether one unit is available now, and takes it if so.
func (w *FixedWindow) Allow() bool {
	r, _ := w.s.allow(&w.st, w.s.tb.now(), 1)
	return r.Allowed
}

// AllowN takes n units at time now if the current window has them. n = 0
// takes nothing and reports the state. An n below 0 or above the quota is
// an error matching [ErrInvalidCost]. Calls should come in time order; a
// time before the current window counts in the current window.
func (w *FixedWindow) AllowN(now time.Time, n int) (Result, error) {
	if err := checkCost(n, w.s.quota, "quota"); err != nil {
		return never(w.s.quota, time.Duration(w.s.period)), err
	}
	r, _ := w.s.allow(&w.st, w.s.tb.at(now), n)
	return r, nil
}

// Quota returns the quota per window.
func (w *FixedWindow) Quota() int { return w.s.quota }

// Period returns the length of a window.
func (w *FixedWindow) Period() time.Duration { return time.Duration(w.s.period) }

// window returns the calendar window containing now (ns since the origin).
func (s *fixedShared) window(now int64) (start, end int64) {
	t := s.tb.origin.Add(time.Duration(now)).In(s.loc)
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	wall := time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec)*time.Second + time.Duration(t.Nanosecond())
	slot := wall - wall%time.Duration(s.period)
	ws := time.Date(y, mo, d, 0, 0, 0, int(slot), s.loc)
	we := time.Date(y, mo, d, 0, 0, 0, int(slot)+int(s.period), s.loc)
	start, end = s.tb.at(ws), s.tb.at(we)
	if start > now { // a wall-clock time skipped or repeated by a DST change
		start = now
	}
	if end <= now {
		end = now + s.period
	}
	return start, end
}

func (s *fixedShared) allow(st *fixedState, now int64, n int) (Result, bool) {
	st.mu.Lock()
	if st.dead {
		st.mu.Unlock()
		return Result{}, false
	}
	if now >= st.end {
		if n == 0 { // report a fresh window without starting one
			st.mu.Unlock()
			return Result{Allowed: true, Limit: s.quota, Remaining: s.quota, Window: time.Duration(s.period)}, true
		}
		if s.loc != nil {
			st.start, st.end = s.window(now)
		} else {
			st.start, st.end = now, now+s.period
		}
		st.count = 0
	}
	r := Result{Limit: s.quota, Window: time.Duration(s.period)}
	left := int64(s.quota) - st.count
	if int64(n) <= left {
		st.count += int64(n)
		left -= int64(n)
		r.Allowed = true
	} else {
		r.RetryAfter = time.Duration(st.end - now)
	}
	r.Remaining = int(left)
	if st.count > 0 {
		r.ResetAfter = time.Duration(st.end - now)
	}
	st.mu.Unlock()
	return r, true
}

// fixedFull reports whether the window has nothing admitted at now, under
// st.mu.
func fixedFull(st *fixedState, now int64) bool { return st.count == 0 || now >= st.end }

// slidingShared is what a sliding window and the keys of a Keyed made from
// it share.
type slidingShared struct {
	quota  int
	window int64
	slot   int64 // length of a slot, ns
	slots  int64 // slots in the ring: every slot that can overlap a window-long span
	tb     timeBase
}

// slidingState is the state of one sliding window.
type slidingState struct {
	mu     sync.Mutex // guards the fields below
	head   int64      // number of the newest slot counted, since the origin
	total  int64      // sum of counts
	counts []uint32   // counts[i % slots]: units admitted during slot i
	dead   bool       // evicted from a Keyed
}

// SlidingWindow admits up to quota units in any span of time as long as
// its window, edges included: for every time t, the units admitted in
// [t-window, t] never exceed the quota. The window is split into slots
// ([WithPrecision]); a request is admitted when the units of every slot
// that overlaps the last window, plus its own, fit the quota. The state is
// a count per slot (4 bytes each): the memory does not grow with the quota.
//
// A SlidingWindow is safe for concurrent use by multiple goroutines; each
// call takes a short lock of its own and allocates nothing. Make one with
// [NewSlidingWindow]; the zero value is not usable.
type SlidingWindow struct {
	st slidingState
	s  *slidingShared
}

// NewSlidingWindow returns a limiter of quota units (1 to [MaxQuota]) per
// window (at least [WithPrecision] nanoseconds, at most [MaxRefill]).
func NewSlidingWindow(quota int, window time.Duration, opts ...SlidingWindowOption) (*SlidingWindow, error) {
	if err := checkWindowArgs(quota, window, "window"); err != nil {
		return nil, err
	}
	cfg := slidingConfig{precision: DefaultPrecision}
	for _, o := range opts {
		if o != nil {
			o.applySlidingWindow(&cfg)
		}
	}
	if cfg.precision < 1 || cfg.precision > MaxPrecision {
		return nil, fmt.Errorf("limit: precision must be between 1 and %d slots, got %d", MaxPrecision, cfg.precision)
	}
	if int64(window) < int64(cfg.precision) {
		return nil, fmt.Errorf("limit: window %v is shorter than %d slots of 1ns", window, cfg.precision)
	}
	tb, err := newTimeBase(cfg.commonConfig)
	if err != nil {
		return nil, err
	}
	slot := int64(window) / int64(cfg.precision)
	s := &slidingShared{quota: quota, window: int64(window), slot: slot, tb: tb}
	// Slots overlapping [t-window, t]: from floor((t-window)/slot) to
	// floor(t/slot), at most ceil(window/slot)+1 of them.
	s.slots = (s.window+slot-1)/slot + 1
	w := &SlidingWindow{s: s}
	s.init(&w.st)
	return w, nil
}

func (s *slidingShared) init(st *slidingState) {
	st.counts = make([]uint32, s.slots)
	st.head = -maxTime / s.slot
}

// Allow reports whether one unit is available now, and takes it if so.
func (w *SlidingWindow) Allow() bool {
	r, _ := w.s.allow(&w.st, w.s.tb.now(), 1)
	return r.Allowed
}

// AllowN takes n units at time now if the last window has room for them.
// n = 0 takes nothing and reports the state. An n below 0 or above the
// quota is an error matching [ErrInvalidCost]. Calls should come in time
// order; a time before the newest call counts as that call's time.
func (w *SlidingWindow) AllowN(now time.Time, n int) (Result, error) {
	if err := checkCost(n, w.s.quota, "quota"); err != nil {
		return never(w.s.quota, time.Duration(w.s.window)), err
	}
	r, _ := w.s.allow(&w.st, w.s.tb.at(now), n)
	return r, nil
}

// Quota returns the quota per window.
func (w *SlidingWindow) Quota() int { return w.s.quota }

// Window returns the length of the window.
func (w *SlidingWindow) Window() time.Duration { return time.Duration(w.s.window) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// advance moves the ring to slot cur, zeroing the slots it passes. Under
// st.mu.
func (s *slidingShared) advance(st *slidingState, cur int64) {
	if cur <= st.head {
		return
	}
	// cur > head, so the unsigned difference is exact even where the
	// signed one would overflow (1ns slots, times a century apart).
	if uint64(cur-st.head) >= uint64(s.slots) {
		clear(st.counts)
		st.total = 0
	} else {
		for i := st.head + 1; i <= cur; i++ {
			j := mod(i, s.slots)
			st.total -= int64(st.counts[j])
			st.counts[j] = 0
		}
	}
	st.head = cur
}

func (s *slidingShared) allow(st *slidingState, now int64, n int) (Result, bool) {
	st.mu.Lock()
	if st.dead {
		st.mu.Unlock()
		return Result{}, false
	}
	cur := floorDiv(now, s.slot)
	s.advance(st, cur)
	if cur < st.head { // a time in the past counts as the newest one
		cur = st.head
		now = max(now, cur*s.slot)
	}
	lo := floorDiv(now-s.window, s.slot) // oldest slot overlapping [now-window, now]
	// used = units in slots lo..head; the ring holds head-slots+1..head.
	used := st.total
	for i := st.head - s.slots + 1; i < lo; i++ {
		used -= int64(st.counts[mod(i, s.slots)])
	}
	r := Result{Limit: s.quota, Window: time.Duration(s.window)}
	if used+int64(n) <= int64(s.quota) {
		st.counts[mod(cur, s.slots)] += uint32(n)
		st.total += int64(n)
		used += int64(n)
		r.Allowed = true
	} else {
		// The earliest time enough old slots have left the span: slot i
		// leaves it when floor((t-window)/slot) > i, at t = (i+1)*slot+window.
		need := used + int64(n) - int64(s.quota)
		for i := lo; i <= st.head; i++ {
			need -= int64(st.counts[mod(i, s.slots)])
			if need <= 0 {
				r.RetryAfter = time.Duration((i+1)*s.slot + s.window - now)
				break
			}
		}
	}
	r.Remaining = int(int64(s.quota) - used)
	if used > 0 {
		for i := st.head; i >= lo; i-- {
			if st.counts[mod(i, s.slots)] != 0 {
				r.ResetAfter = time.Duration((i+1)*s.slot + s.window - now)
				break
			}
		}
	}
	st.mu.Unlock()
	return r, true
}

func mod(i, n int64) int64 {
	m := i % n
	if m < 0 {
		m += n
	}
	return m
}

// slidingFull reports whether nothing admitted is still counted at now,
// under st.mu.
func (s *slidingShared) full(st *slidingState, now int64) bool {
	if st.total == 0 {
		return true
	}
	return floorDiv(now-s.window, s.slot) > st.head
}
