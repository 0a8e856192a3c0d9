package collection

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
)

// Bucket is one bucket of a [RollingWindow] as seen by a read: the sum of the
// values added during the bucket's interval and how many there were. It is
// passed by value so reading a window allocates nothing.
type Bucket struct {
	Sum   float64
	Count int64
}

// RollingWindowOption configures a [RollingWindow]. [WithClock] and
// [WithIgnoreCurrentBucket] are the options.
type RollingWindowOption interface {
	applyRollingWindow(*rollingWindowConfig)
}

type rollingWindowConfig struct {
	clock         Clock
	clockSet      bool
	ignoreCurrent bool
}

type ignoreCurrentOption bool

func (o ignoreCurrentOption) applyRollingWindow(c *rollingWindowConfig) {
	c.ignoreCurrent = bool(o)
}

// WithIgnoreCurrentBucket(true) makes reads ([RollingWindow.Reduce],
// [RollingWindow.Sum]) leave out the current bucket, which is still filling
// and would skew rates computed from the window. Reads then cover size-1
// buckets. The default is false: reads include the current bucket.
func WithIgnoreCurrentBucket(ignore bool) RollingWindowOption {
	return ignoreCurrentOption(ignore)
}

// Epoch markers. Real bucket epochs are clamped to [minEpoch, maxEpoch], far
// from these, so a marker is never mistaken for an epoch.
const (
	epochEmpty     = math.MinInt64     // bucket never used
	epochResetting = math.MinInt64 + 1 // bucket being claimed for a new epoch
	minEpoch       = -(1 << 62)
	maxEpoch       = 1 << 62
)

// A RollingWindow counts values over the last size intervals of time. It is a
// ring of size buckets; each bucket holds the sum and the count of the values
// added during one interval. Time is cut into intervals starting at the
// window's creation (as read from its [Clock]); the bucket of the interval
// that contains "now" is the current bucket, and a read covers the current
// bucket and the size-1 before it (see [WithIgnoreCurrentBucket]).
//
// Create one with [NewRollingWindow]; the zero value is not usable. A
// RollingWindow is safe for concurrent use by multiple goroutines. It takes
// no lock: [RollingWindow.Add] costs one clock read and a few atomic
// operations, and allocates nothing.
//
// # How buckets expire
//
// Every bucket carries the absolute number (epoch) of the interval it holds.
// A read only counts buckets whose epoch lies inside the window, so buckets
// that expired while the window sat idle - even for longer than the whole
// window - are ignored without any sweeping. The first Add that finds a
// bucket holding an older epoch claims it (compare-and-swap of the epoch to a
// "resetting" marker), zeroes it and publishes the new epoch; concurrent Adds
// for the new epoch wait for that publication, so none of them is lost.
//
// # Precision
//
// Each bucket's Sum and Count are updated by separate atomic operations, so a
// read that races with an Add may see one of them updated and not yet the
// other. An Add whose time is older than the interval its bucket now holds
// (possible only with [RollingWindow.AddAt] or a goroutine stalled for a
// whole window between reading the clock and adding) is dropped, or counted
// in the newer interval if the stall ends exactly during the claim. For the
// same reason, ReduceAt and SumAt at a time in the past see as empty any
// interval whose slot a later Add has already reused.
type RollingWindow struct {
	epochs        []atomic.Int64 // epochs[i]: interval held by counters[i], or a marker
	counters      []counters
	size          int64 // buckets in the window
	mask          int64 // len(epochs)-1: the ring is a power of two, so a slot is e&mask
	interval      time.Duration
	origin        time.Time
	clock         Clock
	system        bool // clock is the system clock: use time.Since
	ignoreCurrent bool
}

// counters are the totals of one slot of the ring. They are atomics so that
// Add needs no lock. The epochs live in a slice of their own: they change
// once per interval and are read by every Add, so keeping them off the
// cache line that concurrent Adds write lets each core read its epoch from
// its own cache instead of pulling the contended line once more.
type counters struct {
	sum   atomic.Uint64 // math.Float64bits of the running sum
	count atomic.Int64
}

// MaxRollingWindowSize is the largest size [NewRollingWindow] accepts:
// 2^20 buckets, 24 MiB of ring.
const MaxRollingWindowSize = 1 << 20

// NewRollingWindow returns a window of size buckets, each covering interval.
// The window therefore spans size*interval. It refuses a size below 1 or
// above [MaxRollingWindowSize], a non-positive interval and a nil [Clock].
func NewRollingWindow(size int, interval time.Duration, opts ...RollingWindowOption) (*RollingWindow, error) {
	if size < 1 || size > MaxRollingWindowSize {
		return nil, fmt.Errorf("collection: rolling window size must be between 1 and %d, got %d", MaxRollingWindowSize, size)
	}
	if interval <= 0 {
		return nil, fmt.Errorf("collection: rolling window interval must be positive, got %v", interval)
	}
	cfg := rollingWindowConfig{clock: systemClock{}}
	for _, opt := range opts {
		if opt != nil {
			opt.applyRollingWindow(&cfg)
		}
	}
	if cfg.clockSet && cfg.clock == nil {
		return nil, fmt.Errorf("collection: rolling window clock must not be nil")
	}
	// The ring may hold more slots than the window has buckets: reads only
	// look at the size newest intervals, and a power-of-two ring lets Add
	// find its slot with a mask instead of a division.
	n := ceilPow2(size)
	w := &RollingWindow{
		epochs:        make([]atomic.Int64, n),
		counters:      make([]counters, n),
		size:          int64(size),
		mask:          int64(n - 1),
		interval:      interval,
		clock:         cfg.clock,
		ignoreCurrent: cfg.ignoreCurrent,
	}
	for i := range w.epochs {
		w.epochs[i].Store(epochEmpty)
	}
	_, w.system = w.clock.(systemClock)
	w.origin = w.clock.Now()
	return w, nil
}

// Add adds v to the current bucket.
func (w *RollingWindow) Add(v float64) {
	w.add(w.epochSince(w.elapsed()), v, false)
}

// elapsed reads the clock once and returns the time since the window's
// origin. With the system clock it uses time.Since, which reads only the
// monotonic clock: half the cost of time.Now, which also reads the wall
// clock.
func (w *RollingWindow) elapsed() time.Duration {
	if w.system {
		return time.Since(w.origin)
	}
	return w.clock.Now().Sub(w.origin)
}

// AddAt adds v to the bucket of the interval containing now. It is Add with
// the time given instead of read from the clock, for a caller that has
// read the time already.
//
// A time more than one interval ahead of the window's clock is dropped:
// its bucket would take the slot of a current one, and the current data
// would be lost, and every Add mapped to that slot after it, until the
// clock caught up. A time in the interval after the clock's counts, so
// that a caller's clock a little ahead of the window's loses nothing.
// Telling the two apart reads the window's clock, once per bucket claimed.
func (w *RollingWindow) AddAt(now time.Time, v float64) {
	w.add(w.epochOf(now), v, true)
}

// epochOf returns the number of the interval containing now, counted from the
// window's origin (floor division, so times before the origin get negative
// numbers), clamped away from the epoch markers.
func (w *RollingWindow) epochOf(now time.Time) int64 {
	return w.epochSince(now.Sub(w.origin))
}

// epochSince returns the number of the interval d after the origin.
func (w *RollingWindow) epochSince(d time.Duration) int64 {
	e := int64(d / w.interval)
	if d < 0 && d%w.interval != 0 {
		e--
	}
	if e < minEpoch {
		e = minEpoch
	} else if e > maxEpoch {
		e = maxEpoch
	}
	return e
}

// slot returns the ring index of epoch e (e mod ring length, negative e
// included, thanks to two's complement).
func (w *RollingWindow) slot(e int64) int64 {
	return e & w.mask
}

// add is the lock-free hot path. The common case is one load of the epoch
// (equal to e), a CAS loop on the sum and an atomic add on the count: no lock,
// no allocation.
//
// checkFuture makes add drop v rather than claim a slot for an interval
// more than one ahead of the clock.
func (w *RollingWindow) add(e int64, v float64, checkFuture bool) {
	i := w.slot(e)
	epoch, b := &w.epochs[i], &w.counters[i]
	for {
		be := epoch.Load()
		switch {
		case be == e:
			b.addValue(v)
			return
		case be == epochResetting:
			// Another goroutine is claiming the bucket: it does two stores
			// and publishes, so yield and look again.
			runtime.Gosched()
		case be < e:
			if checkFuture && e > w.epochSince(w.elapsed())+1 {
				return // from the future: current data keeps its slot
			}
			checkFuture = false
			// Stale (or never used): claim it for e. Only the CAS winner
			// zeroes the counters; Adds for e wait on the marker above, so
			// the zeroing never erases them.
			if epoch.CompareAndSwap(be, epochResetting) {
				b.sum.Store(0)
				b.count.Store(0)
				epoch.Store(e)
			}
		default:
			// The slot already holds a newer interval: v is older than
			// the window and no longer counts.
			return
		}
	}
}

func (b *counters) addValue(v float64) {
	for {
		old := b.sum.Load()
		if b.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	b.count.Add(1)
}

// ceilPow2 returns the smallest power of two at least n, for n between 1
// and 2^62; the constructors bound n well below that.
func ceilPow2(n int) int {
	return 1 << bits.Len(uint(n-1))
}

// read returns the counters of slot i if it still holds epoch e, and zero
// otherwise. The second epoch load detects a claim that raced with the
// reads; an epoch never returns to an older value, so equal loads prove the
// counters belonged to e.
func (w *RollingWindow) read(i, e int64) Bucket {
	epoch, b := &w.epochs[i], &w.counters[i]
	if epoch.Load() != e {
		return Bucket{}
	}
	s := math.Float64frombits(b.sum.Load())
	c := b.count.Load()
	if epoch.Load() != e {
		return Bucket{}
	}
	return Bucket{Sum: s, Count: c}
}

// span returns the first epoch read and the number of buckets read at epoch
// cur.
func (w *RollingWindow) span(cur int64) (first, n int64) {
	n = w.size
	if w.ignoreCurrent {
		n--
	}
	return cur - w.size + 1, n
}

// Reduce calls fn once for every bucket of the window, oldest first: size
// times, or size-1 with [WithIgnoreCurrentBucket]. Intervals with no Add,
// including those that expired while the window was idle, are passed as the
// zero Bucket. fn runs on the calling goroutine and may call back into the
// window.
func (w *RollingWindow) Reduce(fn func(b Bucket)) {
	w.reduce(w.epochSince(w.elapsed()), fn)
}

// ReduceAt is [RollingWindow.Reduce] with the time given instead of read from
// the clock.
func (w *RollingWindow) ReduceAt(now time.Time, fn func(b Bucket)) {
	w.reduce(w.epochOf(now), fn)
}

func (w *RollingWindow) reduce(cur int64, fn func(b Bucket)) {
	first, n := w.span(cur)
	i := w.slot(first)
	for k := int64(0); k < n; k++ {
		fn(w.read(i, first+k))
		i = (i + 1) & w.mask
	}
}

// Sum returns the total of the values added in the window and how many there
// were. It reads the same buckets as [RollingWindow.Reduce] without a
// callback: a few atomic loads per bucket, no lock, no allocation. (An O(1)
// running total would need the bucket claim and the total to change
// together, which a lock-free Add cannot guarantee.)
func (w *RollingWindow) Sum() (sum float64, count int64) {
	return w.sum(w.epochSince(w.elapsed()))
}

// SumAt is [RollingWindow.Sum] with the time given instead of read from the
// clock.
func (w *RollingWindow) SumAt(now time.Time) (sum float64, count int64) {
	return w.sum(w.epochOf(now))
}

func (w *RollingWindow) sum(cur int64) (sum float64, count int64) {
	first, n := w.span(cur)
	i := w.slot(first)
	for k := int64(0); k < n; k++ {
		b := w.read(i, first+k)
		sum += b.Sum
		count += b.Count
		i = (i + 1) & w.mask
	}
	return sum, count
}

// Size returns the number of buckets of the window.
func (w *RollingWindow) Size() int { return int(w.size) }

// Interval returns the time covered by one bucket.
func (w *RollingWindow) Interval() time.Duration { return w.interval }
