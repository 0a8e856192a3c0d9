package collection

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

var (
	// ErrClosed is returned by the methods of a [TimingWheel] called after
	// [TimingWheel.Stop].
	ErrClosed = errors.New("collection: timing wheel is stopped")
	// ErrNotFound is returned by [TimingWheel.MoveTimer] when the key has no
	// pending timer (it never had one, already fired or was removed).
	ErrNotFound = errors.New("collection: no pending timer for the key")
)

// TimingWheelOption configures a [TimingWheel]. [WithClock] and
// [WithTickChannel] are the options.
type TimingWheelOption interface {
	applyTimingWheel(*timingWheelConfig)
}

type timingWheelConfig struct {
	clock    Clock
	clockSet bool
	ticks    <-chan time.Time
	ticksSet bool
}

type tickChannelOption struct{ c <-chan time.Time }

func (o tickChannelOption) applyTimingWheel(c *timingWheelConfig) {
	c.ticks = o.c
	c.ticksSet = true
}

// WithTickChannel makes the wheel take its ticks from c instead of a
// time.Ticker of its own. Each value received is the time of the tick; the
// wheel catches up every tick from the last one it processed to the one that
// value falls in, counted from the wheel's creation time on its [Clock]. Use
// it with [WithClock] and the same fake time to drive a wheel
// deterministically in tests. The wheel never closes c. A nil c is refused
// by the constructor.
//
// Closing c stops the ticking, not the wheel: no timer fires any more,
// and SetTimer, MoveTimer and RemoveTimer keep working on timers that
// will not fire until [TimingWheel.Stop] discards them. The wheel's
// goroutine sleeps until Stop; it does not spin on the closed channel.
//
// Without this option the wheel runs a time.Ticker of interval and, on each
// of its ticks, reads its [Clock] to know which tick it is.
func WithTickChannel(c <-chan time.Time) TimingWheelOption {
	return tickChannelOption{c: c}
}

// A TimingWheel runs a callback for keyed tasks after a delay, with the
// precision of one tick. Tasks are kept in slots, one per tick modulo the
// number of slots, so setting, moving and removing a timer costs O(1) and a
// tick only looks at one slot.
//
// Create one with [NewTimingWheel]; the zero value is not usable. A
// TimingWheel is safe for concurrent use by multiple goroutines. Its
// methods take a short mutex that the ticker goroutine also takes to collect
// due tasks; no call waits for the ticker goroutine.
//
// # Timing
//
// Tick k happens at origin + k*interval, where origin is the wheel's creation
// time on its [Clock]. A timer set with delay d at time now fires on the first
// tick at or after now+d: never early, at most one interval late. A delay
// shorter than the time to the next tick (zero and negative included) fires
// on the next tick. Because a callback runs after its tick, a callback that
// sets its own key again with delay d is due d after that moment: a task
// re-armed this way every period drifts by up to one interval per period.
//
// If the ticker goroutine falls behind (a busy machine, ticks dropped by the
// time.Ticker), the next tick it sees catches up every tick in between: all
// their tasks fire, dispatched in tick order, and tasks due on the same tick
// are dispatched in the order they were set.
//
// # Execution
//
// Each due task runs execute on a goroutine of its own, so a slow task never
// delays the others of its tick or of later ticks, and the ticker goroutine
// never waits for a task. Callbacks may therefore run concurrently and
// finish in any order. A task's key is removed before its callback runs, so
// the callback may set a timer for the same key again. A panic in execute is
// not recovered: like a panic in any goroutine, it ends the program.
// [TimingWheel.Stop] waits for the running callbacks, so execute must not
// call Stop.
type TimingWheel[K comparable, V any] struct {
	interval time.Duration
	mask     int64 // len(slots)-1: slots is a power of two, so a tick's slot is k&mask
	execute  func(key K, value V)
	clock    Clock
	system   bool // clock is the system clock: use time.Since
	origin   time.Time
	ticks    <-chan time.Time
	ticker   *time.Ticker // nil with WithTickChannel

	mu     sync.Mutex              // guards the fields below
	slots  []timerList[K, V]       // slots[tick&mask]: timers due on such ticks
	timers map[K]*timerEntry[K, V] // pending timers by key
	free   *timerEntry[K, V]       // recycled entries, linked by next
	nfree  int                     // length of free, at most maxFree
	ticked int64                   // last tick processed
	closed bool

	stop     chan struct{}  // closed by Stop
	done     chan struct{}  // closed when the ticker goroutine returns
	running  sync.WaitGroup // callbacks in flight
	stopOnce sync.Once
}

type timerEntry[K comparable, V any] struct {
	key        K
	value      V
	tick       int64 // absolute tick the timer fires on
	prev, next *timerEntry[K, V]
}

// timerList is an intrusive doubly linked list, so a timer is unlinked in
// O(1) and linking allocates nothing.
type timerList[K comparable, V any] struct {
	head, tail *timerEntry[K, V]
}

func (l *timerList[K, V]) pushBack(t *timerEntry[K, V]) {
	t.prev, t.next = l.tail, nil
	if l.tail == nil {
		l.head = t
	} else {
		l.tail.next = t
	}
	l.tail = t
}

func (l *timerList[K, V]) remove(t *timerEntry[K, V]) {
	if t.prev == nil {
		l.head = t.next
	} else {
		t.prev.next = t.next
	}
	if t.next == nil {
		l.tail = t.prev
	} else {
		t.next.prev = t.prev
	}
	t.prev, t.next = nil, nil
}

type dueTask[K comparable, V any] struct {
	key   K
	value V
	tick  int64
}

// MaxTimingWheelSlots is the largest number of slots [NewTimingWheel]
// accepts: 2^20, 16 MiB of slots.
const MaxTimingWheelSlots = 1 << 20

// NewTimingWheel returns a running wheel of slots slots that ticks every
// interval and calls execute for each task that comes due. It refuses a
// non-positive interval, fewer than one slot or more than
// [MaxTimingWheelSlots], a nil execute, a nil [Clock] and a nil tick
// channel. The wheel owns a goroutine until
// [TimingWheel.Stop].
//
// More slots make each tick scan fewer timers: a timer due in more than
// slots ticks stays in its slot for the rotations in between. The wheel
// rounds slots up to a power of two.
func NewTimingWheel[K comparable, V any](interval time.Duration, slots int, execute func(key K, value V),
	opts ...TimingWheelOption) (*TimingWheel[K, V], error) {
	if interval <= 0 {
		return nil, fmt.Errorf("collection: timing wheel interval must be positive, got %v", interval)
	}
	if slots < 1 || slots > MaxTimingWheelSlots {
		return nil, fmt.Errorf("collection: timing wheel slots must be between 1 and %d, got %d", MaxTimingWheelSlots, slots)
	}
	if execute == nil {
		return nil, errors.New("collection: timing wheel execute function must not be nil")
	}
	cfg := timingWheelConfig{clock: systemClock{}}
	for _, opt := range opts {
		if opt != nil {
			opt.applyTimingWheel(&cfg)
		}
	}
	if cfg.clockSet && cfg.clock == nil {
		return nil, errors.New("collection: timing wheel clock must not be nil")
	}
	if cfg.ticksSet && cfg.ticks == nil {
		return nil, errors.New("collection: timing wheel tick channel must not be nil")
	}
	// Timers carry their absolute tick, so the number of slots only sets how
	// many timers share a slot. Rounding it up to a power of two turns the
	// slot computation into a mask instead of a division.
	n := ceilPow2(slots)
	tw := &TimingWheel[K, V]{
		interval: interval,
		mask:     int64(n - 1),
		execute:  execute,
		clock:    cfg.clock,
		slots:    make([]timerList[K, V], n),
		timers:   make(map[K]*timerEntry[K, V]),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	_, tw.system = tw.clock.(systemClock)
	// The origin is read before the ticker starts, so every real tick
	// arrives at or after origin + k*interval.
	tw.origin = tw.clock.Now()
	if cfg.ticksSet {
		tw.ticks = cfg.ticks
	} else {
		tw.ticker = time.NewTicker(interval)
		tw.ticks = tw.ticker.C
	}
	go tw.run()
	return tw, nil
}

// elapsed reads the clock once and returns the time since the origin. With
// the system clock, time.Since reads only the monotonic clock.
func (tw *TimingWheel[K, V]) elapsed() time.Duration {
	if tw.system {
		return time.Since(tw.origin)
	}
	return tw.clock.Now().Sub(tw.origin)
}

// dueTick returns the first tick at or after elapsed+delay (saturating).
func (tw *TimingWheel[K, V]) dueTick(elapsed, delay time.Duration) int64 {
	if delay < 0 {
		delay = 0
	}
	at := elapsed + delay
	if delay > 0 && at < elapsed { // overflow
		at = math.MaxInt64
	}
	// Ceiling division. Division truncates toward zero, which already
	// rounds a negative quotient up (a clock before the origin).
	k := int64(at / tw.interval)
	if at%tw.interval > 0 {
		k++
	}
	return k
}

// SetTimer schedules execute(key, value) after delay. If key already has a
// pending timer, that timer is replaced: its value becomes value and it fires
// after delay instead. It returns [ErrClosed] after [TimingWheel.Stop].
//
// SetTimer does not allocate when it reuses an entry freed by a fired,
// removed or replaced timer.
func (tw *TimingWheel[K, V]) SetTimer(key K, value V, delay time.Duration) error {
	due := tw.dueTick(tw.elapsed(), delay)
	tw.mu.Lock()
	if tw.closed {
		tw.mu.Unlock()
		return ErrClosed
	}
	t, ok := tw.timers[key]
	if ok {
		tw.slots[tw.slot(t.tick)].remove(t)
	} else {
		t = tw.newEntry()
		t.key = key
		tw.timers[key] = t
	}
	t.value = value
	tw.schedule(t, due)
	tw.mu.Unlock()
	return nil
}

// MoveTimer reschedules the pending timer of key to fire after delay,
// keeping its value. It returns [ErrNotFound] if key has no pending timer and
// [ErrClosed] after [TimingWheel.Stop].
func (tw *TimingWheel[K, V]) MoveTimer(key K, delay time.Duration) error {
	due := tw.dueTick(tw.elapsed(), delay)
	tw.mu.Lock()
	if tw.closed {
		tw.mu.Unlock()
		return ErrClosed
	}
	t, ok := tw.timers[key]
	if !ok {
		tw.mu.Unlock()
		return ErrNotFound
	}
	tw.slots[tw.slot(t.tick)].remove(t)
	tw.schedule(t, due)
	tw.mu.Unlock()
	return nil
}

// RemoveTimer cancels the pending timer of key. Removing a key without a
// pending timer does nothing and returns nil, like deleting a missing map
// key. It returns [ErrClosed] after [TimingWheel.Stop].
func (tw *TimingWheel[K, V]) RemoveTimer(key K) error {
	tw.mu.Lock()
	if tw.closed {
		tw.mu.Unlock()
		return ErrClosed
	}
	if t, ok := tw.timers[key]; ok {
		tw.slots[tw.slot(t.tick)].remove(t)
		delete(tw.timers, key)
		tw.release(t)
	}
	tw.mu.Unlock()
	return nil
}

// Len returns the number of pending timers.
func (tw *TimingWheel[K, V]) Len() int {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return len(tw.timers)
}

// Stop stops the ticker goroutine, discards the pending timers and waits for
// the goroutine and for the callbacks already running to return. It is
// idempotent: every call waits the same way. After Stop, the other methods
// return [ErrClosed]. Stop must not be called from execute.
func (tw *TimingWheel[K, V]) Stop() {
	tw.stopOnce.Do(func() {
		tw.mu.Lock()
		tw.closed = true
		clear(tw.timers)
		clear(tw.slots)
		tw.free, tw.nfree = nil, 0
		tw.mu.Unlock()
		close(tw.stop)
	})
	<-tw.done
	// The ticker goroutine has returned, so no running.Add can race with
	// this Wait.
	tw.running.Wait()
}

// slot returns the slot index of tick k (k mod len(slots), negative k
// included, thanks to two's complement).
func (tw *TimingWheel[K, V]) slot(k int64) int64 {
	return k & tw.mask
}

// schedule links t to fire on tick due, or on the next tick if due has
// already been processed. Requires tw.mu.
func (tw *TimingWheel[K, V]) schedule(t *timerEntry[K, V], due int64) {
	if due <= tw.ticked {
		due = tw.ticked + 1
	}
	t.tick = due
	tw.slots[tw.slot(due)].pushBack(t)
}

// maxFree bounds the free list, so a burst of timers does not pin its
// memory forever, while steady churn reuses entries without allocating.
const maxFree = 4096

// newEntry takes an entry from the free list, or allocates one. Requires
// tw.mu.
func (tw *TimingWheel[K, V]) newEntry() *timerEntry[K, V] {
	if t := tw.free; t != nil {
		tw.free = t.next
		tw.nfree--
		t.next = nil
		return t
	}
	return new(timerEntry[K, V])
}

// release zeroes t (so the wheel keeps no key or value alive) and puts it
// on the free list, if there is room. Requires tw.mu.
func (tw *TimingWheel[K, V]) release(t *timerEntry[K, V]) {
	*t = timerEntry[K, V]{}
	if tw.nfree < maxFree {
		t.next = tw.free
		tw.free = t
		tw.nfree++
	}
}

// run is the ticker goroutine.
func (tw *TimingWheel[K, V]) run() {
	defer close(tw.done)
	if tw.ticker != nil {
		defer tw.ticker.Stop()
	}
	var due []dueTask[K, V] // reused between ticks, owned by this goroutine
	for {
		select {
		case <-tw.stop:
			return
		case now, ok := <-tw.ticks:
			if !ok {
				// A closed tick channel ends the ticking: receiving
				// from nil blocks, so the goroutine sleeps until Stop.
				tw.ticks = nil
				continue
			}
			// An injected tick carries its own time. The wheel's own
			// ticker only signals: the tick number comes from the
			// wheel's clock, so WithClock alone stays consistent.
			var k int64
			if tw.ticker != nil {
				k = tw.tickSince(tw.elapsed())
			} else {
				k = tw.tickSince(now.Sub(tw.origin))
			}
			due = tw.advance(k, due[:0])
			if len(due) == 0 {
				continue
			}
			tw.running.Add(len(due))
			for _, d := range due {
				go tw.fire(d.key, d.value)
			}
			clear(due) // keep no key or value alive until the next tick
			if cap(due) > maxFree {
				due = nil // do not pin the memory of a burst
			}
		}
	}
}

func (tw *TimingWheel[K, V]) fire(key K, value V) {
	defer tw.running.Done()
	tw.execute(key, value)
}

// tickSince returns the number of the last tick at or before d after the
// origin (floor division).
func (tw *TimingWheel[K, V]) tickSince(d time.Duration) int64 {
	k := int64(d / tw.interval)
	if d < 0 && d%tw.interval != 0 {
		k--
	}
	return k
}

// advance processes every tick after tw.ticked up to k and appends their due
// tasks to due, in tick order, and in the order they were set within a tick.
// The callbacks run later, outside the lock.
func (tw *TimingWheel[K, V]) advance(k int64, due []dueTask[K, V]) []dueTask[K, V] {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.closed || k <= tw.ticked {
		return due
	}
	if k-tw.ticked > tw.mask {
		// At least a whole rotation was missed: every slot has due timers
		// possibly, so take them all in one pass and sort by tick. The sort
		// is stable and each tick's timers sit in one slot in set order.
		for i := range tw.slots {
			due = tw.collect(&tw.slots[i], k, due)
		}
		slices.SortStableFunc(due, func(a, b dueTask[K, V]) int {
			switch {
			case a.tick < b.tick:
				return -1
			case a.tick > b.tick:
				return 1
			}
			return 0
		})
	} else {
		for t := tw.ticked + 1; t <= k; t++ {
			due = tw.collect(&tw.slots[tw.slot(t)], t, due)
		}
	}
	tw.ticked = k
	return due
}

// collect moves the timers of l due on or before tick k to due. Called for
// the slot of tick k, it takes exactly the timers of tick k: every earlier
// tick was processed and schedule never links a timer at or before
// tw.ticked. Requires tw.mu.
func (tw *TimingWheel[K, V]) collect(l *timerList[K, V], k int64, due []dueTask[K, V]) []dueTask[K, V] {
	for t := l.head; t != nil; {
		next := t.next
		if t.tick <= k {
			l.remove(t)
			delete(tw.timers, t.key)
			due = append(due, dueTask[K, V]{key: t.key, value: t.value, tick: t.tick})
			tw.release(t)
		}
		t = next
	}
	return due
}
