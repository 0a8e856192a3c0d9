package collection

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testInterval = time.Second

// manualClock is a hand-driven Clock for the wheel tests.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// wheelHarness drives a TimingWheel through its tick channel on a manual
// clock and records what fired.
type wheelHarness struct {
	t      *testing.T
	tw     *TimingWheel[string, int]
	clock  *manualClock
	ticks  chan time.Time
	origin time.Time

	mu    sync.Mutex
	fired map[string]int // key -> value of the (last) firing
	count map[string]int // key -> number of firings
}

func newWheelHarness(t *testing.T, slots int) *wheelHarness {
	t.Helper()
	h := &wheelHarness{
		t:      t,
		clock:  &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		ticks:  make(chan time.Time), // unbuffered: a send returns once the wheel took it
		fired:  make(map[string]int),
		count:  make(map[string]int),
		origin: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	tw, err := NewTimingWheel(testInterval, slots, func(k string, v int) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.fired[k] = v
		h.count[k]++
	}, WithClock(h.clock), WithTickChannel(h.ticks))
	require.NoError(t, err)
	h.tw = tw
	t.Cleanup(tw.Stop)
	return h
}

// at returns the time of tick k (plus frac of an interval).
func (h *wheelHarness) at(k int64, frac time.Duration) time.Time {
	return h.origin.Add(time.Duration(k)*testInterval + frac)
}

// tick moves the clock to tick k, delivers that tick and waits until the
// wheel has processed it and every callback it started has returned.
func (h *wheelHarness) tick(k int64) {
	h.t.Helper()
	now := h.at(k, 0)
	h.clock.set(now)
	h.ticks <- now
	// The second send is taken only after the first tick was processed
	// (same tick: nothing more to do), so all its callbacks were started.
	h.ticks <- now
	// The ticker goroutine now waits on the channel: no running.Add can
	// race with this Wait.
	h.tw.running.Wait()
}

func (h *wheelHarness) firedKeys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]string, 0, len(h.fired))
	for k := range h.fired {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (h *wheelHarness) firings(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count[key]
}

func TestNewTimingWheelRefusesBadConfig(t *testing.T) {
	noop := func(string, int) {}
	tests := []struct {
		name     string
		interval time.Duration
		slots    int
		execute  func(string, int)
		opts     []TimingWheelOption
		want     string
	}{
		{"zero interval", 0, 8, noop, nil, "collection: timing wheel interval must be positive, got 0s"},
		{"negative interval", -time.Second, 8, noop, nil, "collection: timing wheel interval must be positive, got -1s"},
		{"zero slots", time.Second, 0, noop, nil, "collection: timing wheel slots must be between 1 and 1048576, got 0"},
		{"slots above the maximum", time.Second, MaxTimingWheelSlots + 1, noop, nil, "collection: timing wheel slots must be between 1 and 1048576, got 1048577"},
		{"huge slots", time.Second, math.MaxInt, noop, nil, "collection: timing wheel slots must be between 1 and 1048576, got 9223372036854775807"},
		{"nil execute", time.Second, 8, nil, nil, "collection: timing wheel execute function must not be nil"},
		{"nil clock", time.Second, 8, noop, []TimingWheelOption{WithClock(nil)},
			"collection: timing wheel clock must not be nil"},
		{"nil tick channel", time.Second, 8, noop, []TimingWheelOption{WithTickChannel(nil)},
			"collection: timing wheel tick channel must not be nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw, err := NewTimingWheel(tt.interval, tt.slots, tt.execute, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, tw)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

// TestTimingWheelFiresOnTickN sets one timer N ticks out at tick 0 and steps
// tick by tick: it must fire on tick N exactly, whatever N is relative to
// the number of slots (go-zero issue #5510: one rotation late).
func TestTimingWheelFiresOnTickN(t *testing.T) {
	for _, slots := range []int{8, 5, 1} {
		for _, n := range []int64{1, 2, 7, 8, 9, 16, 17, 3*8 + 2, 5 * 8} {
			t.Run(fmt.Sprintf("slots=%d/N=%d", slots, n), func(t *testing.T) {
				h := newWheelHarness(t, slots)
				require.NoError(t, h.tw.SetTimer("k", 42, time.Duration(n)*testInterval))
				for k := int64(1); k < n; k++ {
					h.tick(k)
					require.Empty(t, h.firedKeys(), "fired early, on tick %d", k)
				}
				h.tick(n)
				assert.Equal(t, []string{"k"}, h.firedKeys(), "tick %d", n)
				assert.Equal(t, 42, h.fired["k"])
				assert.Equal(t, 0, h.tw.Len())
				h.tick(n + int64(slots) + 1)
				assert.Equal(t, 1, h.firings("k"), "fires once")
			})
		}
	}
}

// TestTimingWheelDueTick checks which tick a delay lands on when the timer is
// set between ticks: the first tick at or after now+delay.
func TestTimingWheelDueTick(t *testing.T) {
	half := testInterval / 2
	tests := []struct {
		name  string
		frac  time.Duration // clock position after tick 0 when setting
		delay time.Duration
		want  int64
	}{
		{"zero delay on a tick", 0, 0, 1},
		{"zero delay between ticks", half, 0, 1},
		{"negative delay", half, -time.Hour, 1},
		{"1ns", 0, 1, 1},
		{"shorter than a tick", half, testInterval / 4, 1},
		{"reaches the next tick", half, half, 1},
		{"one interval between ticks", half, testInterval, 2},
		{"just under two intervals", 0, 2*testInterval - 1, 2},
		{"two intervals", 0, 2 * testInterval, 2},
		{"just over two intervals", 0, 2*testInterval + 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newWheelHarness(t, 4)
			h.clock.set(h.at(0, tt.frac))
			require.NoError(t, h.tw.SetTimer("k", 1, tt.delay))
			for k := int64(1); k < tt.want; k++ {
				h.tick(k)
				require.Empty(t, h.firedKeys(), "fired early, on tick %d", k)
			}
			h.tick(tt.want)
			assert.Equal(t, []string{"k"}, h.firedKeys(), "tick %d", tt.want)
		})
	}
}

// TestTimingWheelLateSet sets a timer when the clock is past ticks the wheel
// has not processed yet: it must not be lost, and fire when they are.
func TestTimingWheelLateSet(t *testing.T) {
	h := newWheelHarness(t, 4)
	h.clock.set(h.at(3, 0))
	require.NoError(t, h.tw.SetTimer("k", 1, testInterval)) // due at tick 4
	h.tick(3)
	assert.Empty(t, h.firedKeys())
	h.tick(4)
	assert.Equal(t, []string{"k"}, h.firedKeys())

	// A timer computed for a tick already processed fires on the next one.
	h.clock.set(h.at(2, 0)) // a clock behind the ticks
	require.NoError(t, h.tw.SetTimer("late", 2, 0))
	h.tick(5)
	assert.Equal(t, []string{"k", "late"}, h.firedKeys())
}

func TestTimingWheelReplace(t *testing.T) {
	h := newWheelHarness(t, 8)
	require.NoError(t, h.tw.SetTimer("k", 1, 3*testInterval))
	require.NoError(t, h.tw.SetTimer("k", 2, 5*testInterval)) // replaces value and delay
	assert.Equal(t, 1, h.tw.Len())
	for k := int64(1); k <= 4; k++ {
		h.tick(k)
	}
	assert.Empty(t, h.firedKeys())
	h.tick(5)
	assert.Equal(t, 2, h.fired["k"])
	assert.Equal(t, 1, h.firings("k"))

	// Replacing with a shorter delay moves it earlier.
	require.NoError(t, h.tw.SetTimer("j", 1, 10*testInterval))
	require.NoError(t, h.tw.SetTimer("j", 3, 1*testInterval))
	h.tick(6)
	assert.Equal(t, 3, h.fired["j"])
}

func TestTimingWheelMoveTimer(t *testing.T) {
	h := newWheelHarness(t, 4)
	require.NoError(t, h.tw.SetTimer("sooner", 1, 5*testInterval))
	require.NoError(t, h.tw.SetTimer("later", 2, 2*testInterval))
	require.NoError(t, h.tw.MoveTimer("sooner", 2*testInterval))
	require.NoError(t, h.tw.MoveTimer("later", 9*testInterval)) // beyond a rotation

	h.tick(1)
	assert.Empty(t, h.firedKeys())
	h.tick(2)
	assert.Equal(t, []string{"sooner"}, h.firedKeys())
	assert.Equal(t, 1, h.fired["sooner"], "value kept")
	for k := int64(3); k <= 8; k++ {
		h.tick(k)
		require.Equal(t, []string{"sooner"}, h.firedKeys(), "tick %d", k)
	}
	h.tick(9)
	assert.Equal(t, []string{"later", "sooner"}, h.firedKeys())
	assert.Equal(t, 2, h.fired["later"])

	assert.ErrorIs(t, h.tw.MoveTimer("later", testInterval), ErrNotFound, "already fired")
	assert.ErrorIs(t, h.tw.MoveTimer("never", testInterval), ErrNotFound)
}

func TestTimingWheelRemoveTimer(t *testing.T) {
	h := newWheelHarness(t, 4)
	require.NoError(t, h.tw.SetTimer("gone", 1, 2*testInterval))
	require.NoError(t, h.tw.SetTimer("kept", 2, 2*testInterval))
	require.NoError(t, h.tw.RemoveTimer("gone"))
	require.NoError(t, h.tw.RemoveTimer("gone"), "removing twice is a no-op")
	require.NoError(t, h.tw.RemoveTimer("never"))
	assert.Equal(t, 1, h.tw.Len())
	h.tick(2)
	assert.Equal(t, []string{"kept"}, h.firedKeys())
	assert.ErrorIs(t, h.tw.MoveTimer("gone", testInterval), ErrNotFound)

	// The freed entry is reused without mixing up timers.
	require.NoError(t, h.tw.SetTimer("again", 3, testInterval))
	h.tick(3)
	assert.Equal(t, []string{"again", "kept"}, h.firedKeys())
	assert.Equal(t, 3, h.fired["again"])
}

// TestTimingWheelCatchUp delivers one tick far ahead: every tick in between
// is processed and each timer fires once.
func TestTimingWheelCatchUp(t *testing.T) {
	for _, jump := range []int64{5, 8, 9, 30} { // 8 slots: within, equal to and beyond a rotation
		t.Run(fmt.Sprint(jump), func(t *testing.T) {
			h := newWheelHarness(t, 8)
			want := []string{}
			for d := int64(1); d <= 25; d++ {
				key := fmt.Sprintf("t%02d", d)
				require.NoError(t, h.tw.SetTimer(key, int(d), time.Duration(d)*testInterval))
				if d <= jump {
					want = append(want, key)
				}
			}
			h.tick(jump)
			assert.Equal(t, want, h.firedKeys())
			assert.Equal(t, 25-len(want), h.tw.Len())
			if jump < 25 {
				h.tick(25)
				assert.Len(t, h.firedKeys(), 25)
			}
			for _, k := range h.firedKeys() {
				assert.Equal(t, 1, h.firings(k), "key %s", k)
			}
		})
	}
}

// TestTimingWheelCatchUpOrder checks the dispatch order of a catch-up: by
// tick, then in set order within a tick, through both the per-tick path and
// the whole-rotation path.
func TestTimingWheelCatchUpOrder(t *testing.T) {
	for _, jump := range []int64{3, 6, 20} { // 4 slots: per-tick path, then whole-rotation path
		t.Run(fmt.Sprint(jump), func(t *testing.T) {
			h := newWheelHarness(t, 4)
			// Set out of order; ties (same tick) in the order b, a.
			delays := []struct {
				key  string
				tick int64
			}{{"t5b", 5}, {"t2", 2}, {"t5a", 5}, {"t1", 1}, {"t6", 6}, {"t3", 3}, {"t20", 20}, {"t4", 4}}
			for _, d := range delays {
				require.NoError(t, h.tw.SetTimer(d.key, 0, time.Duration(d.tick)*testInterval))
			}
			// Drive advance directly (the ticker goroutine is idle) to see
			// the dispatch order.
			due := h.tw.advance(jump, nil)
			var got []string
			for _, d := range due {
				got = append(got, d.key)
			}
			all := []struct {
				key  string
				tick int64
			}{{"t1", 1}, {"t2", 2}, {"t3", 3}, {"t4", 4}, {"t5b", 5}, {"t5a", 5}, {"t6", 6}, {"t20", 20}}
			var want []string
			for _, d := range all {
				if d.tick <= jump {
					want = append(want, d.key)
				}
			}
			assert.Equal(t, want, got)
		})
	}
}

// TestTimingWheelSlowTask blocks one callback and checks that the tasks of
// the same tick and of the next ticks still run.
func TestTimingWheelSlowTask(t *testing.T) {
	release := make(chan struct{})
	ran := make(chan string, 8)
	ticks := make(chan time.Time)
	clock := &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	origin := clock.Now()
	tw, err := NewTimingWheel(testInterval, 4, func(k string, _ int) {
		if k == "slow" {
			<-release
		}
		ran <- k
	}, WithClock(clock), WithTickChannel(ticks))
	require.NoError(t, err)
	defer tw.Stop()

	require.NoError(t, tw.SetTimer("slow", 0, testInterval))
	require.NoError(t, tw.SetTimer("sibling", 0, testInterval))
	require.NoError(t, tw.SetTimer("next", 0, 2*testInterval))

	ticks <- origin.Add(testInterval)
	assert.Equal(t, "sibling", waitFor(t, ran))
	ticks <- origin.Add(2 * testInterval)
	assert.Equal(t, "next", waitFor(t, ran))
	select {
	case k := <-ran:
		t.Fatalf("%s ran while slow is blocked", k)
	default:
	}
	close(release)
	assert.Equal(t, "slow", waitFor(t, ran))
}

func waitFor(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case k := <-c:
		return k
	case <-time.After(10 * time.Second): // a guard against a hang, not a timing assertion
		t.Fatal("timed out waiting for a callback")
		return ""
	}
}

// TestTimingWheelStopWaits checks that Stop waits for a running callback,
// is idempotent, and that every method reports ErrClosed afterwards.
func TestTimingWheelStopWaits(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	ticks := make(chan time.Time)
	clock := &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	origin := clock.Now()
	tw, err := NewTimingWheel(testInterval, 4, func(string, int) {
		close(started)
		<-release
	}, WithClock(clock), WithTickChannel(ticks))
	require.NoError(t, err)
	require.NoError(t, tw.SetTimer("k", 0, testInterval))
	require.NoError(t, tw.SetTimer("pending", 0, 3*testInterval))
	ticks <- origin.Add(testInterval)
	<-started

	stopped := make(chan struct{})
	go func() {
		tw.Stop()
		close(stopped)
	}()
	// Stop cannot return before the callback does: wait until Stop has
	// signalled the ticker goroutine, then check it is still waiting.
	<-tw.stop
	select {
	case <-stopped:
		t.Fatal("Stop returned while a callback was running")
	default:
	}
	close(release)
	<-stopped

	tw.Stop() // idempotent
	assert.ErrorIs(t, tw.SetTimer("k", 0, testInterval), ErrClosed)
	assert.ErrorIs(t, tw.MoveTimer("pending", testInterval), ErrClosed)
	assert.ErrorIs(t, tw.RemoveTimer("pending"), ErrClosed)
	assert.Equal(t, 0, tw.Len(), "pending timers are discarded")
}

func TestTimingWheelConcurrentStop(t *testing.T) {
	tw, err := NewTimingWheel(time.Hour, 4, func(int, int) {})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tw.Stop()
		}()
	}
	wg.Wait()
	assert.ErrorIs(t, tw.SetTimer(1, 1, time.Second), ErrClosed)
}

// TestTimingWheelRescheduleFromCallback sets the same key again from its own
// callback: the key was released before the callback ran.
func TestTimingWheelRescheduleFromCallback(t *testing.T) {
	ticks := make(chan time.Time)
	clock := &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	origin := clock.Now()
	ran := make(chan string, 4)
	var tw *TimingWheel[string, int]
	tw, err := NewTimingWheel(testInterval, 4, func(k string, n int) {
		if n > 0 {
			if err := tw.SetTimer(k, n-1, testInterval); err != nil {
				ran <- err.Error()
				return
			}
		}
		ran <- fmt.Sprint(k, n)
	}, WithClock(clock), WithTickChannel(ticks))
	require.NoError(t, err)
	defer tw.Stop()

	require.NoError(t, tw.SetTimer("k", 2, testInterval))
	for k := 1; k <= 3; k++ {
		now := origin.Add(time.Duration(k) * testInterval)
		clock.set(now)
		ticks <- now
		assert.Equal(t, fmt.Sprint("k", 3-k), waitFor(t, ran), "tick %d", k)
	}
}

// TestTimingWheelConcurrentUse races the API against ticks for the race
// detector, and checks that every timer set fires or was removed.
func TestTimingWheelConcurrentUse(t *testing.T) {
	h := newWheelHarness(t, 8)
	const goroutines, perG = 4, 200
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				key := fmt.Sprintf("g%d-%d", g, i)
				_ = h.tw.SetTimer(key, i, time.Duration(i%20)*testInterval)
				switch i % 4 {
				case 1:
					_ = h.tw.MoveTimer(key, time.Duration(i%7)*testInterval)
				case 2:
					_ = h.tw.RemoveTimer(key)
				}
			}
		}(g)
	}
	for k := int64(1); k <= 10; k++ {
		h.tick(k)
	}
	wg.Wait()
	h.tick(40)
	assert.Equal(t, 0, h.tw.Len())
	// A removed key may have fired before its removal; every other key
	// fires, and no key fires twice.
	for g := 0; g < goroutines; g++ {
		for i := 0; i < perG; i++ {
			key := fmt.Sprintf("g%d-%d", g, i)
			if i%4 == 2 {
				assert.LessOrEqual(t, h.firings(key), 1, key)
			} else {
				assert.Equal(t, 1, h.firings(key), key)
			}
		}
	}
}

// TestTimingWheelRealTicker runs the default time.Ticker path end to end.
func TestTimingWheelRealTicker(t *testing.T) {
	ran := make(chan string, 1)
	tw, err := NewTimingWheel(time.Millisecond, 16, func(k string, _ int) { ran <- k })
	require.NoError(t, err)
	defer tw.Stop()
	require.NoError(t, tw.SetTimer("k", 0, 2*time.Millisecond))
	assert.Equal(t, "k", waitFor(t, ran))
}

func TestTimingWheelSetTimerAllocatesNothing(t *testing.T) {
	h := newWheelHarness(t, 8)
	keys := []string{"a", "b", "c"}
	for _, k := range keys {
		require.NoError(t, h.tw.SetTimer(k, 0, testInterval))
	}
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		i++
		_ = h.tw.SetTimer(keys[i%3], i, time.Duration(i%9)*testInterval)
		_ = h.tw.MoveTimer(keys[(i+1)%3], 3*testInterval)
	})
	assert.Equal(t, 0.0, allocs)
}

// TestTimingWheelOwnTickerReadsClock runs the wheel's own ticker with a
// manual clock: the ticker only signals, the tick number comes from the
// clock, so nothing fires before the clock reaches the due tick.
func TestTimingWheelOwnTickerReadsClock(t *testing.T) {
	clock := &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	origin := clock.Now()
	seen := make(chan time.Time, 1)
	tw, err := NewTimingWheel(time.Millisecond, 8, func(string, int) { seen <- clock.Now() }, WithClock(clock))
	require.NoError(t, err)
	defer tw.Stop()
	require.NoError(t, tw.SetTimer("k", 0, 3*time.Millisecond))
	clock.set(origin.Add(3 * time.Millisecond))
	select {
	case at := <-seen:
		assert.Equal(t, origin.Add(3*time.Millisecond), at, "fired before the clock reached the due tick")
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the timer")
	}
}

// TestTimingWheelFreeListBounded checks that removed entries are recycled
// but a burst does not keep more than maxFree of them.
func TestTimingWheelFreeListBounded(t *testing.T) {
	h := newWheelHarness(t, 8)
	for i := 0; i < maxFree+10; i++ {
		require.NoError(t, h.tw.SetTimer(fmt.Sprint(i), i, testInterval))
	}
	for i := 0; i < maxFree+10; i++ {
		require.NoError(t, h.tw.RemoveTimer(fmt.Sprint(i)))
	}
	h.tw.mu.Lock()
	assert.Equal(t, maxFree, h.tw.nfree)
	h.tw.mu.Unlock()
	require.NoError(t, h.tw.SetTimer("x", 1, testInterval))
	h.tw.mu.Lock()
	assert.Equal(t, maxFree-1, h.tw.nfree)
	h.tw.mu.Unlock()
	h.tick(1)
	assert.Equal(t, []string{"x"}, h.firedKeys())
}
