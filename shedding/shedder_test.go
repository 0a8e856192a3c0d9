package shedding_test

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/shedding"
)

func newFake(t *testing.T, opts ...shedding.Option) (*shedding.Shedder, *fakeClock, *fakeLoad) {
	t.Helper()
	clk, load := newFakeClock(), &fakeLoad{}
	s, err := shedding.New(append([]shedding.Option{shedding.WithClock(clk), shedding.WithLoadSource(load)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, clk, load
}

func TestNewRefusesInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		opt  shedding.Option
		want string
	}{
		{shedding.WithShedWindow(0), "shedding: window must be between 1ns and 1h0m0s, got 0s"},
		{shedding.WithShedWindow(2 * time.Hour), "window must be between"},
		{shedding.WithBuckets(0), "shedding: buckets must be between 1 and 4096, got 0"},
		{shedding.WithBuckets(1 << 20), "buckets must be between 1 and 4096"},
		{shedding.WithThreshold(0), "shedding: threshold must be between 1 and 1000 permille, got 0"},
		{shedding.WithThreshold(1001), "threshold must be between 1 and 1000"},
		{shedding.WithCoolOff(-time.Second), "shedding: cool-off must be between 0 and 1h0m0s, got -1s"},
		{shedding.WithFlyingSmoothing(1), "shedding: flying smoothing must be in [0, 1), got 1"},
		{shedding.WithFlyingSmoothing(math.NaN()), "flying smoothing must be in [0, 1), got NaN"},
		{shedding.WithColdRT(0), "shedding: cold round trip must be between 1ns and 1h0m0s, got 0s"},
		{shedding.WithSampleInterval(time.Millisecond), "shedding: sample interval must be between 10ms and 1m0s, got 1ms"},
		{shedding.WithLoadSmoothing(-0.1), "shedding: load smoothing must be in [0, 1), got -0.1"},
		{shedding.WithPriorityHeadroom(0), "shedding: priority headroom must be in (0, 1], got 0"},
		{shedding.WithPriorityHeadroom(math.Inf(1)), "priority headroom must be in (0, 1], got +Inf"},
		{shedding.WithMinInFlight(0), "shedding: min in-flight must be between 1 and 1048576, got 0"},
		{shedding.WithSignal(7), "shedding: unknown signal Signal(7)"},
		{shedding.WithLoadSource(nil), "shedding: nil LoadSource"},
		{shedding.WithClock(nil), "shedding: nil Clock"},
		{shedding.WithEventHook(nil), "shedding: nil event hook"},
		{shedding.WithLogger(nil), "shedding: nil logger"},
		{shedding.WithLogInterval(0), "shedding: log interval must be between 1ns and 1h, got 0s"},
		{nil, "shedding: nil Option"},
	} {
		s, err := shedding.New(shedding.WithLoadSource(shedding.LoadFunc(func() int64 { return 0 })), tc.opt)
		assert.Nil(t, s)
		if assert.Error(t, err, tc.want) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
	// Options valid alone but not together.
	_, err := shedding.New(shedding.WithShedWindow(10*time.Millisecond), shedding.WithBuckets(100), shedding.WithLoadSource(shedding.LoadFunc(func() int64 { return 0 })))
	assert.EqualError(t, err, "shedding: window 10ms split into 100 buckets gives buckets shorter than 1ms")
	// Every error is reported, not only the first.
	_, err = shedding.New(shedding.WithThreshold(0), shedding.WithBuckets(0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "threshold")
	assert.Contains(t, err.Error(), "buckets")
	// The last of a kind wins.
	_, err = shedding.New(shedding.WithThreshold(0), shedding.WithThreshold(500), shedding.WithLoadSource(shedding.LoadFunc(func() int64 { return 0 })))
	assert.Error(t, err, "an invalid value is reported even if a later one is valid")
}

// Huge and hostile arguments: the largest valid sizes build at once and
// allocate a bounded window.
func TestLargestOptions(t *testing.T) {
	start := time.Now()
	s, _, _ := newFake(t, shedding.WithShedWindow(shedding.MaxShedWindow), shedding.WithBuckets(shedding.MaxBuckets),
		shedding.WithColdRT(shedding.MaxColdRT), shedding.WithCoolOff(shedding.MaxCoolOff))
	assert.Less(t, time.Since(start), time.Second)
	for _, p := range []shedding.Priority{-128, -2, 2, 127} {
		tok, err := s.Allow(p)
		require.NoError(t, err, "Allow(%d)", p)
		tok.Pass()
	}
	st := s.Stats()
	assert.Equal(t, [shedding.NumPriorities]int64{2, 0, 2}, st.Admitted, "out-of-range classes count as the nearest")
}

func TestTokens(t *testing.T) {
	s, clk, _ := newFake(t)
	var zero shedding.Token
	zero.Pass()
	zero.Fail()
	zero.Done(nil)

	toks := make([]shedding.Token, 0, 10)
	for range 10 {
		tok, err := s.Allow(shedding.Default)
		require.NoError(t, err)
		toks = append(toks, tok)
	}
	assert.Equal(t, int64(10), s.Stats().InFlight)
	clk.Advance(20 * time.Millisecond)
	for i, tok := range toks {
		switch i % 3 {
		case 0:
			tok.Pass()
		case 1:
			tok.Fail()
		default:
			tok.Done(assert.AnError)
		}
	}
	assert.Equal(t, int64(0), s.Stats().InFlight)
	// The next bucket learns from the 4 passes: 4 per bucket × 20 ms.
	clk.Advance(100 * time.Millisecond)
	_, err := s.Allow(shedding.Default)
	require.NoError(t, err)
	st := s.Stats()
	assert.Equal(t, int64(4), st.MaxPass)
	assert.Equal(t, 20*time.Millisecond, st.MinRT)
	assert.InDelta(t, 1, st.Bound, 1e-9, "max(1, 4 × 20 ms / 100 ms)")
}

// A clock that jumps far ahead, or a shedder idle for longer than its
// window, forgets the window instead of walking it.
func TestIdleForgetsWindow(t *testing.T) {
	s, clk, _ := newFake(t)
	tok, _ := s.Allow(shedding.Default)
	clk.Advance(5 * time.Millisecond)
	tok.Pass()
	clk.Advance(100 * time.Millisecond)
	_, _ = s.Allow(shedding.Default)
	require.Equal(t, 5*time.Millisecond, s.Stats().MinRT)
	clk.Advance(1000 * time.Hour)
	_, _ = s.Allow(shedding.Default)
	assert.Equal(t, shedding.DefaultColdRT, s.Stats().MinRT, "cold again")
}

func TestEventsAndLogging(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &buf, mu: &mu}, nil))
	var events []shedding.Event
	s, clk, load := newFake(t, shedding.WithLogger(logger), shedding.WithLogInterval(time.Hour),
		shedding.WithEventHook(func(e shedding.Event) { events = append(events, e) }))
	load.v.Store(1000)
	// Two episodes within the log interval: two of each event, one log line.
	for ep := 0; ep < 2; ep++ {
		load.v.Store(1000)
		clk.Advance(100 * time.Millisecond)
		var toks []shedding.Token
		shed := 0
		for range 100 {
			tok, err := s.Allow(shedding.Default)
			if err != nil {
				shed++
				continue
			}
			toks = append(toks, tok)
		}
		require.Positive(t, shed, "episode %d", ep)
		for _, tok := range toks {
			tok.Pass()
		}
		load.v.Store(0)
		clk.Advance(100 * time.Millisecond)
		_, _ = s.Allow(shedding.Default)
		clk.Advance(shedding.DefaultCoolOff + 100*time.Millisecond)
		_, _ = s.Allow(shedding.Default)
	}
	require.Len(t, events, 4)
	for i, e := range events {
		assert.Equal(t, i%2 == 0, e.Shedding, "event %d", i)
	}
	assert.Equal(t, int64(0), events[0].Dropped)
	assert.Positive(t, events[1].Dropped)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Equal(t, 1, strings.Count(out, "\n"), "log:\n%s", out)
	assert.Contains(t, out, "level=WARN")
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// Concurrent use under -race: the counts add up.
func TestConcurrent(t *testing.T) {
	s, _, load := newFake(t, shedding.WithShedWindow(50*time.Millisecond), shedding.WithBuckets(5))
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted, shed := 0, 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, d := 0, 0
			for i := range 2000 {
				if g == 0 && i%500 == 0 {
					load.v.Store(int64(i % 1000 * 2))
				}
				tok, err := s.Allow(shedding.Priority(i%3 - 1))
				if err != nil {
					d++
					continue
				}
				a++
				if i%2 == 0 {
					tok.Pass()
				} else {
					tok.Fail()
				}
			}
			mu.Lock()
			admitted += a
			shed += d
			mu.Unlock()
		}()
	}
	wg.Wait()
	st := s.Stats()
	var a, d int64
	for c := range st.Admitted {
		a += st.Admitted[c]
		d += st.Dropped[c]
	}
	assert.Equal(t, int64(admitted), a)
	assert.Equal(t, int64(shed), d)
	assert.Equal(t, int64(0), st.InFlight)
}

// Hostile load readings and clocks: nothing panics, counts stay right.
func TestHostileLoadAndClock(t *testing.T) {
	for _, l := range []int64{math.MinInt64, -1, math.MaxInt64} {
		s, clk, load := newFake(t)
		load.v.Store(l)
		clk.Advance(100 * time.Millisecond)
		var toks []shedding.Token
		for range 50 {
			if tok, err := s.Allow(shedding.Default); err == nil {
				toks = append(toks, tok)
			}
		}
		st := s.Stats()
		assert.Equal(t, l, st.Load)
		assert.Equal(t, l >= shedding.DefaultThreshold, st.Overloaded, "load %d", l)
		// The clock jumps back an hour, then forward a year.
		clk.Advance(-time.Hour)
		for _, tok := range toks[:len(toks)/2] {
			tok.Pass()
		}
		_, _ = s.Allow(shedding.Critical)
		clk.Advance(365 * 24 * time.Hour)
		for _, tok := range toks[len(toks)/2:] {
			tok.Pass()
		}
		_, _ = s.Allow(shedding.Critical)
		st = s.Stats()
		assert.Equal(t, int64(2), st.InFlight, "load %d", l)
		assert.GreaterOrEqual(t, st.MinRT, time.Duration(0))
	}
}

// Neither path allocates: a calm admit, an admit while hot, the first drop
// of an episode and the drops after it.
func TestAllowDoesNotAllocate(t *testing.T) {
	s, clk, load := newFake(t)
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		tok, err := s.Allow(shedding.Default)
		if err != nil {
			t.Fatal("shed while calm")
		}
		tok.Pass()
	}), "calm admit and pass")

	load.v.Store(1000)
	clk.Advance(100 * time.Millisecond)
	held := make([]shedding.Token, 0, 100)
	assert.Zero(t, testing.AllocsPerRun(1, func() {
		for len(held) < cap(held) {
			tok, err := s.Allow(shedding.Default)
			if err != nil {
				break
			}
			held = append(held, tok)
		}
	}), "admits while hot, up to the first drop")
	// The calm passes took no time: the bound is 1, the floor 4 in flight;
	// the average (smoothed by 0.9) passes 4 at the 10th admit.
	require.Len(t, held, 10)
	require.True(t, s.Stats().Shedding)
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if _, err := s.Allow(shedding.Sheddable); err == nil {
			t.Fatal("admitted above the bound")
		}
		if _, err := s.Allow(shedding.Critical); err == nil {
			t.Fatal("admitted above the bound")
		}
	}), "drops")
	st := s.Stats()
	assert.Equal(t, int64(len(held)), st.InFlight)
	assert.Equal(t, int64(101), st.Dropped[shedding.Sheddable.Index()])
	assert.Equal(t, int64(101), st.Dropped[shedding.Critical.Index()])
	for _, tok := range held {
		tok.Fail()
	}
}
