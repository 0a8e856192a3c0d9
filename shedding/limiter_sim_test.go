package shedding_test

import (
	"container/heap"
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/levee-go/levee/shedding"
)

// The simulated dependency of the behaviour tests, on virtual time: W
// workers, each call holds one for its service time (S, jittered uniformly
// by ±50%), calls wait FIFO in an unbounded queue, every admitted call is
// served even if its caller has left (that is wasted work), and callers
// give up after the timeout T. Clients arrive as a Poisson process whose
// rate the scenario sets per limPhase. A discrete-event loop: no goroutine,
// no sleep; the limiter reads the simulation's clock.

// limClock is the virtual clock: the event loop moves it, the limiter
// reads it. Single goroutine, so no lock.
type limClock struct {
	base time.Time
	now  int64 // ns since base
}

func (c *limClock) Now() time.Time { return c.base.Add(time.Duration(c.now)) }

type limCall struct {
	arrive    int64
	permit    shedding.Permit
	class     shedding.Priority
	left      bool // the caller gave up
	finished  bool // the dependency answered
	limited   bool // went through a limiter
	heapIndex int
}

// limCompletions is a min-heap of calls in service by limCompletion time.
type limCompletion struct {
	at   int64
	call *limCall
}

type limCompletions []limCompletion

func (h limCompletions) Len() int           { return len(h) }
func (h limCompletions) Less(i, j int) bool { return h[i].at < h[j].at }
func (h limCompletions) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *limCompletions) Push(x any)        { *h = append(*h, x.(limCompletion)) }
func (h *limCompletions) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// limPhase is a stretch of the scenario: offered rate per class (calls per
// second) and the dependency's workers and mean service time.
type limPhase struct {
	d       time.Duration
	rate    [shedding.NumPriorities]float64
	workers int
	service time.Duration
}

// second is what happened in one second of virtual time, by the second in
// which the event happened.
type limSecond struct {
	offered  [shedding.NumPriorities]int
	ok       [shedding.NumPriorities]int // answered within the timeout
	rejected [shedding.NumPriorities]int
	timeouts int // callers who gave up
	wasted   int // answers nobody waited for
	minLimit int
	maxLimit int
	probing  int // samples (every 10 ms) that found the limiter probing
}

type limSim struct {
	clk     *limClock
	rng     *rand.Rand
	lim     *shedding.Limiter // nil: unprotected
	timeout int64

	workers int
	service int64
	busy    int
	queue   []*limCall // FIFO of the dependency
	qhead   int
	inSvc   limCompletions
	waits   []*limCall // callers by arrival, for their timeouts
	whead   int

	secs []limSecond
	lat  limHist // latency of answered calls, from a start second on
	from int     // first second whose latencies count
}

func newLimSim(seed uint64, lim *shedding.Limiter, clk *limClock, timeout time.Duration) *limSim {
	return &limSim{clk: clk, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), lim: lim, timeout: int64(timeout)}
}

func (s *limSim) sec() *limSecond {
	i := int(s.clk.now / int64(time.Second))
	for len(s.secs) <= i {
		s.secs = append(s.secs, limSecond{minLimit: math.MaxInt})
	}
	return &s.secs[i]
}

// run plays the phases one after the other.
func (s *limSim) run(phases ...limPhase) {
	for _, p := range phases {
		s.play(p)
	}
}

func (s *limSim) play(p limPhase) {
	end := s.clk.now + int64(p.d)
	s.workers, s.service = p.workers, int64(p.service)
	s.startWork()
	var total float64
	for _, r := range p.rate {
		total += r
	}
	next := int64(math.MaxInt64)
	draw := func() {
		if total > 0 {
			next = s.clk.now + int64(s.rng.ExpFloat64()/total*float64(time.Second))
		}
	}
	draw()
	nextSample := s.clk.now
	for {
		t := next
		kind := 0
		if len(s.inSvc) > 0 && s.inSvc[0].at < t {
			t, kind = s.inSvc[0].at, 1
		}
		if s.whead < len(s.waits) && s.waits[s.whead].arrive+s.timeout < t {
			t, kind = s.waits[s.whead].arrive+s.timeout, 2
		}
		if t >= end {
			s.clk.now = end
			return
		}
		s.clk.now = t
		if t >= nextSample && s.lim != nil {
			sc := s.sec()
			l := s.lim.Limit()
			sc.minLimit, sc.maxLimit = min(sc.minLimit, l), max(sc.maxLimit, l)
			if s.lim.Probing() {
				sc.probing++
			}
			nextSample = t + int64(10*time.Millisecond)
		}
		switch kind {
		case 0:
			s.arrive(p, total)
			draw()
		case 1:
			s.complete()
		case 2:
			s.giveUp()
		}
	}
}

func (s *limSim) arrive(p limPhase, total float64) {
	x := s.rng.Float64() * total
	class := shedding.Sheddable
	for i, r := range p.rate {
		if x < r || i == len(p.rate)-1 {
			class = shedding.Priority(i - 1)
			break
		}
		x -= r
	}
	sc := s.sec()
	sc.offered[class.Index()]++
	c := &limCall{arrive: s.clk.now, class: class}
	if s.lim != nil {
		pm, err := s.lim.TryAcquirePriority(class)
		if err != nil {
			sc.rejected[class.Index()]++
			return
		}
		c.permit, c.limited = pm, true
	}
	s.waits = append(s.waits, c)
	s.queue = append(s.queue, c)
	s.startWork()
}

// startWork hands queued calls to free workers.
func (s *limSim) startWork() {
	for s.busy < s.workers && s.qhead < len(s.queue) {
		c := s.queue[s.qhead]
		s.queue[s.qhead] = nil
		s.qhead++
		s.busy++
		d := int64(float64(s.service) * (0.5 + s.rng.Float64()))
		heap.Push(&s.inSvc, limCompletion{at: s.clk.now + d, call: c})
	}
	if s.qhead > 4096 && s.qhead*2 > len(s.queue) {
		s.queue = append(s.queue[:0], s.queue[s.qhead:]...)
		s.qhead = 0
	}
}

func (s *limSim) complete() {
	c := heap.Pop(&s.inSvc).(limCompletion).call
	s.busy--
	c.finished = true
	sc := s.sec()
	if c.left {
		sc.wasted++
	} else {
		sc.ok[c.class.Index()]++
		if int(s.clk.now/int64(time.Second)) >= s.from {
			s.lat.add(s.clk.now - c.arrive)
		}
		if c.limited {
			c.permit.Done(nil)
		}
	}
	s.startWork()
}

func (s *limSim) giveUp() {
	c := s.waits[s.whead]
	s.waits[s.whead] = nil
	s.whead++
	if s.whead > 4096 && s.whead*2 > len(s.waits) {
		s.waits = append(s.waits[:0], s.waits[s.whead:]...)
		s.whead = 0
	}
	if c.finished {
		return
	}
	c.left = true
	s.sec().timeouts++
	if c.limited {
		c.permit.Done(context.DeadlineExceeded)
	}
}

// limHist is a histogram of latencies in 50 µs buckets up to 5 s.
type limHist struct {
	b [100001]int
	n int
}

func (h *limHist) add(ns int64) {
	i := min(int(ns/int64(50*time.Microsecond)), len(h.b)-1)
	h.b[i]++
	h.n++
}

// quantile returns the upper edge of the bucket holding quantile q.
func (h *limHist) quantile(q float64) time.Duration {
	want := int(math.Ceil(q * float64(h.n)))
	seen := 0
	for i, c := range h.b {
		seen += c
		if seen >= want {
			return time.Duration(i+1) * 50 * time.Microsecond
		}
	}
	return time.Duration(len(h.b)) * 50 * time.Microsecond
}

// totals sums the seconds [from, to).
func (s *limSim) totals(from, to int) (t limSecond) {
	t.minLimit = math.MaxInt
	for _, sc := range s.secs[from:min(to, len(s.secs))] {
		for i := range t.ok {
			t.offered[i] += sc.offered[i]
			t.ok[i] += sc.ok[i]
			t.rejected[i] += sc.rejected[i]
		}
		t.timeouts += sc.timeouts
		t.wasted += sc.wasted
		t.probing += sc.probing
		t.minLimit = min(t.minLimit, sc.minLimit)
		t.maxLimit = max(t.maxLimit, sc.maxLimit)
	}
	return t
}

func (t limSecond) goodput() int {
	return t.ok[0] + t.ok[1] + t.ok[2]
}

func (t limSecond) rejections() int {
	return t.rejected[0] + t.rejected[1] + t.rejected[2]
}
