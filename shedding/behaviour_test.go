package shedding_test

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/shedding"
)

// The behaviours the shedder promises, each simulated on a fake clock with
// a fake load source and seeded random arrivals and round trips, so every
// number below is reproducible; each runs over several seeds.

var seeds = []uint64{1, 2, 3}

// fakeLoad is a LoadSource the test sets by hand.
type fakeLoad struct{ v atomic.Int64 }

func (f *fakeLoad) Load() int64 { return f.v.Load() }

// pending is an admitted request and when it finishes.
type pending struct {
	at  time.Duration
	tok shedding.Token
}

type pendingHeap []pending

func (h pendingHeap) Len() int           { return len(h) }
func (h pendingHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h pendingHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)        { *h = append(*h, x.(pending)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// durHeap holds the times at which the server's workers come free.
type durHeap []time.Duration

func (h durHeap) Len() int           { return len(h) }
func (h durHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h durHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *durHeap) Push(x any)        { *h = append(*h, x.(time.Duration)) }
func (h *durHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// sim is a server behind a shedder: requests of each class arrive as
// Poisson processes; the server has workers workers, each serving one
// request at a time for rt ± 20 %, and a FIFO queue in front of them, so it
// serves at most workers/rt requests a second (500/s) and queues the rest.
type sim struct {
	t       *testing.T
	clk     *fakeClock
	load    *fakeLoad
	s       *shedding.Shedder
	rng     *rand.Rand
	rt      time.Duration
	at      time.Duration
	queue   pendingHeap
	workers durHeap
	// drop times since the start, and the events heard
	firstDrop, lastDrop time.Duration
	events              []shedding.Event
}

func newSim(t *testing.T, seed uint64, opts ...shedding.Option) *sim {
	t.Helper()
	m := &sim{t: t, clk: newFakeClock(), load: &fakeLoad{}, rng: rand.New(rand.NewPCG(seed, 7)), rt: 50 * time.Millisecond, firstDrop: -1, lastDrop: -1}
	m.workers = make(durHeap, 25)
	opts = append([]shedding.Option{
		shedding.WithClock(m.clk),
		shedding.WithLoadSource(m.load),
		shedding.WithEventHook(func(e shedding.Event) { m.events = append(m.events, e) }),
	}, opts...)
	s, err := shedding.New(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	m.s = s
	return m
}

// tally is what happened to one class during a run.
type tally struct{ offered, admitted int }

func (t tally) passRatio() float64 { return float64(t.admitted) / float64(t.offered) }

// sample is the in-flight count and the bound seen at one arrival.
type sample struct {
	at       time.Duration
	inflight int64
	bound    float64
}

// run offers rates[class] requests per second for d, completing admitted
// requests as their round trips end. It returns a tally per class and, if
// every is not 0, samples of the in-flight count taken at least every.
func (m *sim) run(rates [shedding.NumPriorities]float64, d time.Duration, every time.Duration) ([shedding.NumPriorities]tally, []sample) {
	var total float64
	for _, r := range rates {
		total += r
	}
	var out [shedding.NumPriorities]tally
	var samples []sample
	end := m.at + d
	nextSample := m.at
	for {
		gap := time.Duration(m.rng.ExpFloat64() / total * float64(time.Second))
		next := m.at + gap
		if next > end {
			m.advance(end)
			return out, samples
		}
		m.advance(next)
		// Pick the class of the arrival.
		x := m.rng.Float64() * total
		c := 0
		for c < shedding.NumPriorities-1 && x >= rates[c] {
			x -= rates[c]
			c++
		}
		p := shedding.Priority(c - 1)
		out[c].offered++
		if every > 0 && m.at >= nextSample {
			st := m.s.Stats()
			samples = append(samples, sample{at: m.at, inflight: st.InFlight, bound: st.Bound})
			nextSample = m.at + every
		}
		tok, err := m.s.Allow(p)
		if err != nil {
			require.ErrorIs(m.t, err, shedding.ErrShed)
			if m.firstDrop < 0 {
				m.firstDrop = m.at
			}
			m.lastDrop = m.at
			continue
		}
		out[c].admitted++
		service := time.Duration(float64(m.rt) * (0.8 + 0.4*m.rng.Float64()))
		start := max(m.at, m.workers[0])
		m.workers[0] = start + service
		heap.Fix(&m.workers, 0)
		heap.Push(&m.queue, pending{at: start + service, tok: tok})
	}
}

// advance moves the clock to to, finishing the requests due on the way.
func (m *sim) advance(to time.Duration) {
	for len(m.queue) > 0 && m.queue[0].at <= to {
		p := heap.Pop(&m.queue).(pending)
		m.clk.Advance(p.at - m.at)
		m.at = p.at
		p.tok.Pass()
	}
	m.clk.Advance(to - m.at)
	m.at = to
}

func rates(sheddable, def, critical float64) [shedding.NumPriorities]float64 {
	return [shedding.NumPriorities]float64{sheddable, def, critical}
}

// warm runs 6 s of calm traffic, 400/s at 300‰: the window learns a bound
// of about 400/s × 50 ms = 20 requests (more: the busiest bucket of a
// Poisson stream is above its mean).
func (m *sim) warm() {
	m.load.v.Store(300)
	m.run(rates(0, 400, 0), 6*time.Second, 0)
	st := m.s.Stats()
	require.InDelta(m.t, 27, st.Bound, 8, "bound after warm-up: %+v", st)
}

// Behaviour 1: below the threshold nothing is shed, whatever the in-flight
// count.
func TestBelowThresholdNeverSheds(t *testing.T) {
	for _, seed := range seeds {
		for _, load := range []int64{0, shedding.DefaultThreshold - 1} {
			t.Run(fmt.Sprintf("seed%d/load%d", seed, load), func(t *testing.T) {
				m := newSim(t, seed)
				m.warm()
				m.load.v.Store(load)
				// 5,000/s at 50 ms: about 250 in flight, ten times the bound.
				got, samples := m.run(rates(2000, 2000, 1000), 3*time.Second, 100*time.Millisecond)
				for c, tl := range got {
					assert.Equal(t, tl.offered, tl.admitted, "class %d: admitted %d of %d", c, tl.admitted, tl.offered)
				}
				var peak int64
				for _, s := range samples {
					peak = max(peak, s.inflight)
				}
				assert.Greater(t, peak, int64(200), "the flood must actually exceed the bound")
				st := m.s.Stats()
				assert.Equal(t, [shedding.NumPriorities]int64{}, st.Dropped)
				assert.False(t, st.Shedding)
				assert.Empty(t, m.events)
			})
		}
	}
}

// Behaviour 2: above the threshold, a flood is shed within one bucket of
// the load crossing it, and once the backlog queued before that has
// drained, the in-flight count stays within ±20 % of the Little's-law
// bound.
func TestOverloadHoldsInFlightAtBound(t *testing.T) {
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			m := newSim(t, seed)
			m.warm()
			// A flood of six times the server's capacity; the CPU signal
			// crosses the threshold 150 ms into it.
			m.run(rates(0, 3000, 0), 150*time.Millisecond, 0)
			require.Equal(t, time.Duration(-1), m.firstDrop)
			crossed := m.at
			m.load.v.Store(950)
			got, samples := m.run(rates(0, 3000, 0), 6*time.Second, 10*time.Millisecond)
			require.GreaterOrEqual(t, m.firstDrop, crossed)
			bucket := shedding.DefaultShedWindow / shedding.DefaultBuckets
			assert.LessOrEqual(t, m.firstDrop-crossed, bucket, "first drop %v after the load crossed the threshold", m.firstDrop-crossed)

			var worst float64
			n := 0
			for _, s := range samples {
				if s.at < crossed+2*time.Second {
					continue // the backlog of the unshed 150 ms: about 1 s of work
				}
				n++
				dev := (float64(s.inflight) - s.bound) / s.bound
				if math.Abs(dev) > math.Abs(worst) {
					worst = dev
				}
			}
			require.Greater(t, n, 350)
			assert.LessOrEqual(t, math.Abs(worst), 0.2, "in-flight strayed %.1f%% from the bound", 100*worst)
			st := m.s.Stats()
			// The server completes 500/s; the shedder admits about that.
			assert.InDelta(t, 0.5/3, got[1].passRatio(), 0.03)
			t.Logf("bound %.1f, worst deviation %.1f%%, passed %.1f%%", st.Bound, 100*worst, 100*got[1].passRatio())
			require.NotEmpty(t, m.events)
			assert.True(t, m.events[0].Shedding)
			assert.True(t, st.Shedding)
			assert.True(t, st.Overloaded)
			assert.Equal(t, "custom", st.Source)
		})
	}
}

// Behaviour 3: once the load falls below the threshold, drops stop within
// the cool-off plus one bucket, though the flood goes on.
func TestCoolOff(t *testing.T) {
	for _, seed := range seeds {
		for _, coolOff := range []time.Duration{shedding.DefaultCoolOff, 3 * time.Second, 0} {
			t.Run(fmt.Sprintf("seed%d/cooloff%v", seed, coolOff), func(t *testing.T) {
				m := newSim(t, seed, shedding.WithCoolOff(coolOff))
				m.warm()
				m.load.v.Store(950)
				m.run(rates(0, 3000, 0), 2*time.Second, 0)
				require.GreaterOrEqual(t, m.firstDrop, time.Duration(0))
				fell := m.at
				m.load.v.Store(500)
				got, _ := m.run(rates(0, 3000, 0), coolOff+2*time.Second, 0)
				bucket := shedding.DefaultShedWindow / shedding.DefaultBuckets
				after := m.lastDrop - fell
				assert.LessOrEqual(t, after, coolOff+bucket, "last drop %v after the load fell", after)
				// The cool-off is real: the shedder kept shedding through it.
				assert.GreaterOrEqual(t, after, coolOff-bucket, "last drop %v after the load fell", after)
				// After that everything passes: the flood's 3,000/s for the
				// last 2 s, six times the server's capacity.
				assert.Greater(t, got[1].admitted, 5000)
				st := m.s.Stats()
				assert.False(t, st.Shedding)
				require.Len(t, m.events, 2)
				assert.True(t, m.events[0].Shedding)
				assert.False(t, m.events[1].Shedding)
				assert.Equal(t, st.Dropped[1], m.events[1].Dropped)
			})
		}
	}
}

// Behaviour 4: in an overload that sheds a lower class, at least 95 % of a
// higher class's requests pass.
func TestPrioritiesShedLowerClassesFirst(t *testing.T) {
	for _, seed := range seeds {
		for _, tc := range []struct {
			name      string
			rates     [shedding.NumPriorities]float64
			low, high int // class indexes
		}{
			{"sheddable-flood/default", rates(3000, 200, 0), 0, 1},
			{"default-flood/critical", rates(0, 3000, 200), 1, 2},
			{"sheddable-flood/critical", rates(3000, 0, 200), 0, 2},
			{"all", rates(2000, 1000, 200), 0, 2},
		} {
			t.Run(fmt.Sprintf("seed%d/%s", seed, tc.name), func(t *testing.T) {
				m := newSim(t, seed)
				m.warm()
				m.load.v.Store(950)
				before := m.s.Stats()
				got, _ := m.run(tc.rates, 5*time.Second, 0)
				low, high := got[tc.low], got[tc.high]
				assert.Less(t, low.passRatio(), 0.5, "lower class passed %d of %d", low.admitted, low.offered)
				assert.GreaterOrEqual(t, high.passRatio(), 0.95, "higher class passed %d of %d", high.admitted, high.offered)
				st := m.s.Stats()
				for c := range got {
					assert.Equal(t, int64(got[c].admitted), st.Admitted[c]-before.Admitted[c], "class %d admitted", c)
					assert.Equal(t, int64(got[c].offered-got[c].admitted), st.Dropped[c]-before.Dropped[c], "class %d dropped", c)
				}
				t.Logf("lower class passed %.1f%%, higher %.1f%%", 100*low.passRatio(), 100*high.passRatio())
			})
		}
	}
}

// Overload without queueing: a server whose CPU is hot but which keeps up
// with its traffic sheds almost nothing. Not nothing: the bound is the
// busiest bucket's throughput times the least round trip, and a Poisson
// stream's in-flight count crosses that now and then.
func TestOverloadWithoutQueueingShedsLittle(t *testing.T) {
	for _, seed := range seeds {
		m := newSim(t, seed)
		m.warm()
		m.load.v.Store(990)
		got, _ := m.run(rates(0, 300, 0), 10*time.Second, 0)
		assert.GreaterOrEqual(t, got[1].passRatio(), 0.9, "seed %d: passed %d of %d", seed, got[1].admitted, got[1].offered)
	}
}

// Cold start: a shedder that has seen nothing assumes a 1 s round trip, so
// its bound is large, and a first burst under overload passes.
func TestColdStart(t *testing.T) {
	m := newSim(t, 1)
	m.load.v.Store(950)
	m.advance(100 * time.Millisecond) // the load is read at the bucket boundary
	_, err := m.s.Allow(shedding.Default)
	require.NoError(t, err)
	st := m.s.Stats()
	assert.Equal(t, 10.0, st.Bound, "cold bound: 1 pass × 1 s / 100 ms")
	assert.True(t, st.Overloaded)
	for i := 0; i < 9; i++ {
		_, err := m.s.Allow(shedding.Default)
		require.NoError(t, err, "request %d of a cold burst", i)
	}
}

// Low traffic under overload: a handful of requests a second never queue,
// so nothing is shed, however hot the process.
func TestLowTrafficUnderOverload(t *testing.T) {
	for _, seed := range seeds {
		m := newSim(t, seed)
		m.load.v.Store(1000)
		got, _ := m.run(rates(2, 2, 1), 60*time.Second, 0)
		for c, tl := range got {
			assert.Equal(t, tl.offered, tl.admitted, "seed %d class %d", seed, c)
		}
	}
}
