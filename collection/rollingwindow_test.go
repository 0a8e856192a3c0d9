package collection_test

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/collection"
)

// fakeClock is a hand-driven collection.Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func buckets(w *collection.RollingWindow) []collection.Bucket {
	var bs []collection.Bucket
	w.Reduce(func(b collection.Bucket) { bs = append(bs, b) })
	return bs
}

func TestNewRollingWindowRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		interval time.Duration
		opts     []collection.RollingWindowOption
		want     string
	}{
		{"zero size", 0, time.Second, nil, "collection: rolling window size must be between 1 and 1048576, got 0"},
		{"negative size", -3, time.Second, nil, "collection: rolling window size must be between 1 and 1048576, got -3"},
		{"size above the maximum", collection.MaxRollingWindowSize + 1, time.Second, nil, "collection: rolling window size must be between 1 and 1048576, got 1048577"},
		{"huge size", math.MaxInt, time.Second, nil, "collection: rolling window size must be between 1 and 1048576, got 9223372036854775807"},
		{"zero interval", 4, 0, nil, "collection: rolling window interval must be positive, got 0s"},
		{"negative interval", 4, -time.Millisecond, nil, "collection: rolling window interval must be positive, got -1ms"},
		{"nil clock", 4, time.Second, []collection.RollingWindowOption{collection.WithClock(nil)},
			"collection: rolling window clock must not be nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := collection.NewRollingWindow(tt.size, tt.interval, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, w)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestRollingWindowAccessors(t *testing.T) {
	w, err := collection.NewRollingWindow(5, 3*time.Second)
	require.NoError(t, err)
	assert.Equal(t, 5, w.Size())
	assert.Equal(t, 3*time.Second, w.Interval())
}

// TestRollingWindowBoundaries walks a 3 x 100ms window across bucket
// boundaries on a fake clock. Each step advances the clock, optionally adds,
// then checks every bucket, oldest first.
func TestRollingWindowBoundaries(t *testing.T) {
	const ms = time.Millisecond
	type step struct {
		advance time.Duration
		add     []float64
		want    []collection.Bucket // Reduce, oldest first
	}
	b := func(sum float64, count int64) collection.Bucket { return collection.Bucket{Sum: sum, Count: count} }
	z := collection.Bucket{}
	tests := []struct {
		name          string
		ignoreCurrent bool
		steps         []step
	}{
		{
			name: "include current",
			steps: []step{
				{0, nil, []collection.Bucket{z, z, z}},
				{0, []float64{1}, []collection.Bucket{z, z, b(1, 1)}},
				{99 * ms, []float64{2}, []collection.Bucket{z, z, b(3, 2)}},      // 99ms: same bucket
				{1 * ms, []float64{5}, []collection.Bucket{z, b(3, 2), b(5, 1)}}, // 100ms: next bucket
				{100 * ms, nil, []collection.Bucket{b(3, 2), b(5, 1), z}},        // 200ms
				{99 * ms, nil, []collection.Bucket{b(3, 2), b(5, 1), z}},         // 299ms
				{1 * ms, nil, []collection.Bucket{b(5, 1), z, z}},                // 300ms: first bucket expired
				{0, []float64{-1, 0.5}, []collection.Bucket{b(5, 1), z, b(-0.5, 2)}},
				{199 * ms, nil, []collection.Bucket{z, b(-0.5, 2), z}}, // 499ms
				{1 * ms, nil, []collection.Bucket{b(-0.5, 2), z, z}},   // 500ms
				{100 * ms, nil, []collection.Bucket{z, z, z}},          // 600ms: all expired
				{0, []float64{7}, []collection.Bucket{z, z, b(7, 1)}},  // slot reused after idle
				{100 * ms, []float64{8}, []collection.Bucket{z, b(7, 1), b(8, 1)}},
			},
		},
		{
			name:          "ignore current",
			ignoreCurrent: true,
			steps: []step{
				{0, []float64{1}, []collection.Bucket{z, z}},
				{50 * ms, []float64{2}, []collection.Bucket{z, z}},
				{50 * ms, nil, []collection.Bucket{z, b(3, 2)}},        // 100ms
				{0, []float64{4}, []collection.Bucket{z, b(3, 2)}},     // current not read
				{100 * ms, nil, []collection.Bucket{b(3, 2), b(4, 1)}}, // 200ms
				{100 * ms, nil, []collection.Bucket{b(4, 1), z}},       // 300ms
				{100 * ms, []float64{9}, []collection.Bucket{z, z}},    // 400ms
				{100 * ms, nil, []collection.Bucket{z, b(9, 1)}},       // 500ms
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			w, err := collection.NewRollingWindow(3, 100*ms, collection.WithClock(clock),
				collection.WithIgnoreCurrentBucket(tt.ignoreCurrent))
			require.NoError(t, err)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				for _, v := range s.add {
					w.Add(v)
				}
				assert.Equal(t, s.want, buckets(w), "step %d: Reduce", i)
				var sum float64
				var count int64
				for _, bk := range s.want {
					sum += bk.Sum
					count += bk.Count
				}
				gotSum, gotCount := w.Sum()
				assert.Equal(t, sum, gotSum, "step %d: Sum() sum", i)
				assert.Equal(t, count, gotCount, "step %d: Sum() count", i)
			}
		})
	}
}

// TestRollingWindowIdleExpiry pauses a full window for various lengths after
// filling every bucket: everything older than the window must be gone, the
// rest must stay.
func TestRollingWindowIdleExpiry(t *testing.T) {
	const size, interval = 4, time.Second
	tests := []struct {
		pause     time.Duration
		wantSum   float64 // values 1, 2, 3, 4 added in buckets 0..3
		wantCount int64
	}{
		{0, 10, 4},
		{interval - 1, 10, 4},
		{interval, 9, 3},
		{3 * interval, 4, 1},
		{4*interval - 1, 4, 1},
		{4 * interval, 0, 0}, // exactly one window
		{4*interval + 500*time.Millisecond, 0, 0},
		{7 * interval, 0, 0},                 // longer than the window, slots not a multiple
		{1000*interval + 1, 0, 0},            // many windows
		{time.Duration(math.MaxInt64), 0, 0}, // saturating clock arithmetic
	}
	for _, tt := range tests {
		clock := newFakeClock()
		w, err := collection.NewRollingWindow(size, interval, collection.WithClock(clock))
		require.NoError(t, err)
		for i := 1; i <= size; i++ {
			w.Add(float64(i))
			if i < size {
				clock.Advance(interval)
			}
		}
		clock.Advance(tt.pause)
		sum, count := w.Sum()
		assert.Equal(t, tt.wantSum, sum, "pause %v: sum", tt.pause)
		assert.Equal(t, tt.wantCount, count, "pause %v: count", tt.pause)
		var n int
		w.Reduce(func(collection.Bucket) { n++ })
		assert.Equal(t, size, n, "pause %v: buckets reduced", tt.pause)

		// The window is usable again after the pause.
		w.Add(100)
		sum, count = w.Sum()
		assert.Equal(t, tt.wantSum+100, sum, "pause %v: sum after Add", tt.pause)
		assert.Equal(t, tt.wantCount+1, count, "pause %v: count after Add", tt.pause)
	}
}

func TestRollingWindowAtVariants(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	w, err := collection.NewRollingWindow(3, time.Second, collection.WithClock(clock))
	require.NoError(t, err)

	clock.Advance(time.Second) // start+2s is one interval ahead: it counts
	w.AddAt(start, 1)
	w.AddAt(start.Add(1500*time.Millisecond), 2)
	w.AddAt(start.Add(2*time.Second), 3)

	sum, count := w.SumAt(start.Add(2 * time.Second))
	assert.Equal(t, 6.0, sum)
	assert.Equal(t, int64(3), count)

	var got []collection.Bucket
	w.ReduceAt(start.Add(3*time.Second), func(b collection.Bucket) { got = append(got, b) })
	assert.Equal(t, []collection.Bucket{{Sum: 2, Count: 1}, {Sum: 3, Count: 1}, {}}, got)

	// A value older than its slot's interval is dropped.
	clock.Advance(3 * time.Second)
	w.AddAt(start.Add(3*time.Second), 10)
	w.AddAt(start.Add(4*time.Second), 20) // interval 4 reuses the slot of an expired interval
	w.AddAt(start, 1000)                  // interval 0's slot is reused by now: dropped
	sum, count = w.SumAt(start.Add(4 * time.Second))
	assert.Equal(t, 33.0, sum)
	assert.Equal(t, int64(3), count)
}

// TestRollingWindowFutureAddAtDoesNotBlindASlot: an AddAt far ahead of the
// window's clock must not take the slot of current data, nor make the Adds
// mapped to that slot vanish until the clock catches up.
func TestRollingWindowFutureAddAtDoesNotBlindASlot(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	w, err := collection.NewRollingWindow(4, time.Second, collection.WithClock(clock))
	require.NoError(t, err)
	w.Add(1)                               // interval 0, slot 0
	w.AddAt(start.Add(time.Second), 2)     // one interval ahead: counts
	w.AddAt(start.Add(4*time.Second), 100) // interval 4 would take slot 0
	w.AddAt(start.Add(time.Hour), 100)     // far ahead
	sum, count := w.Sum()
	assert.Equal(t, 1.0, sum, "current data kept")
	assert.Equal(t, int64(1), count)

	// Every Add of the next minute counts, a quarter of them in slot 0.
	lost := 0
	for i := range 240 {
		clock.Advance(250 * time.Millisecond)
		before, _ := w.Sum()
		w.Add(1)
		after, _ := w.Sum()
		if after != before+1 {
			lost++
		}
		if i%16 == 0 {
			w.AddAt(clock.Now().Add(3*time.Second), 1000) // keep trying
		}
	}
	assert.Equal(t, 0, lost, "Adds lost of 240")
	sum, _ = w.SumAt(clock.Now().Add(time.Second))
	assert.Less(t, sum, 1000.0, "no future value counted")
}

// TestRollingWindowBeforeOrigin uses times before the window's creation:
// intervals are counted with floor division, so they still line up.
func TestRollingWindowBeforeOrigin(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	w, err := collection.NewRollingWindow(2, time.Second, collection.WithClock(clock))
	require.NoError(t, err)

	w.AddAt(start.Add(-1500*time.Millisecond), 1) // interval -2
	w.AddAt(start.Add(-time.Second), 2)           // interval -1
	w.AddAt(start.Add(-1), 4)                     // interval -1
	sum, count := w.SumAt(start.Add(-time.Second))
	assert.Equal(t, 7.0, sum)
	assert.Equal(t, int64(3), count)

	w.AddAt(start, 8) // interval 0
	sum, count = w.SumAt(start)
	assert.Equal(t, 14.0, sum)
	assert.Equal(t, int64(3), count)
}

// TestRollingWindowConcurrentAdds races many Adds, including the Adds that
// claim expired buckets for a new interval, and checks that none is lost.
func TestRollingWindowConcurrentAdds(t *testing.T) {
	const (
		size       = 4
		goroutines = 8
		perPhase   = 500
		phases     = 6
	)
	clock := newFakeClock()
	start := clock.Now()
	w, err := collection.NewRollingWindow(size, time.Second, collection.WithClock(clock))
	require.NoError(t, err)

	for phase := 0; phase < phases; phase++ {
		// Every phase writes size fresh intervals; from phase 1 on, each of
		// them first has to claim a slot holding an expired interval.
		base := start.Add(time.Duration(phase*size) * time.Second)
		clock.Advance(base.Add((size - 1) * time.Second).Sub(clock.Now()))
		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < perPhase; i++ {
					at := base.Add(time.Duration((g+i)%size) * time.Second)
					w.AddAt(at, 1)
				}
			}(g)
		}
		wg.Wait()
		sum, count := w.SumAt(base.Add((size - 1) * time.Second))
		assert.Equal(t, float64(goroutines*perPhase), sum, "phase %d: sum", phase)
		assert.Equal(t, int64(goroutines*perPhase), count, "phase %d: count", phase)
	}
}

// TestRollingWindowSystemClock checks the default clock path end to end.
func TestRollingWindowSystemClock(t *testing.T) {
	w, err := collection.NewRollingWindow(10, time.Hour)
	require.NoError(t, err)
	w.Add(2)
	w.Add(3)
	sum, count := w.Sum()
	assert.Equal(t, 5.0, sum)
	assert.Equal(t, int64(2), count)
}

func TestRollingWindowAddAllocatesNothing(t *testing.T) {
	clock := newFakeClock()
	w, err := collection.NewRollingWindow(8, time.Second, collection.WithClock(clock))
	require.NoError(t, err)
	var total float64
	allocs := testing.AllocsPerRun(100, func() {
		w.Add(1)
		w.Reduce(func(b collection.Bucket) { total += b.Sum })
		w.Sum()
	})
	assert.Equal(t, 0.0, allocs)
}

// TestRollingWindowRacingClock runs Adds, reads and a moving clock at once,
// for the race detector. Every read must stay within what was added.
func TestRollingWindowRacingClock(t *testing.T) {
	clock := newFakeClock()
	w, err := collection.NewRollingWindow(3, time.Millisecond, collection.WithClock(clock))
	require.NoError(t, err)
	const writers, perWriter = 4, 2000
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				w.Add(1)
			}
		}()
	}
	done := make(chan struct{})
	var readerWG sync.WaitGroup
	readerWG.Add(1)
	var maxCount int64
	go func() {
		defer readerWG.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			clock.Advance(300 * time.Microsecond)
			_, count := w.Sum()
			if count > maxCount {
				maxCount = count
			}
			w.Reduce(func(collection.Bucket) {})
		}
	}()
	wg.Wait()
	close(done)
	readerWG.Wait()
	assert.LessOrEqual(t, maxCount, int64(writers*perWriter))
}
