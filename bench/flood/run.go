package flood

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Outcomes of a search.
const (
	outOK       = iota // answered 200 within the timeout
	outRejected        // refused by a client-side guard
	outShed            // answered 503 or 429 by the backend (its guard or admission control)
	outTimeout         // the client's timeout expired
	outError           // anything else
)

type call struct {
	arrive  time.Duration // from the start of the load
	latency time.Duration
	outcome uint8
}

// Progress is a live report of a running variant.
type Progress struct {
	Elapsed time.Duration
	Phase   string
	Goodput float64 // successes over the last second, as a fraction of capacity
	Queue   int     // searches queued in the backend
}

// Second is one second of a run, for the CSV and the chart.
type Second struct {
	Second   int
	Phase    string
	Offered  int   // searches that arrived
	OK       int   // successes that completed
	Rejected int   // client-side rejections
	Shed     int   // 503/429 answers
	TimedOut int   // timeouts
	Errors   int   // other errors
	Wasted   int64 // searches the backend finished for callers that had left
	MaxQueue int   // longest backend queue seen
}

// PhaseResult is the outcome of one phase.
type PhaseResult struct {
	Offered float64 // offered load as a fraction of capacity
	Goodput float64 // successes per second as a fraction of capacity
}

// Result is the outcome of one variant.
type Result struct {
	Variant   string
	Position  string
	Levee     bool
	Fair      string
	Capacity  int
	Timeout   time.Duration
	Before    PhaseResult
	Flood     PhaseResult
	After     PhaseResult
	P50, P99  time.Duration // successful searches that arrived during the flood
	P99Steady time.Duration // successful searches that arrived from SteadyFrom into the flood on
	Calls     int
	OK        int
	Rejected  int
	Shed      int
	TimedOut  int
	Errors    int
	Served    int64   // searches the backend finished
	Wasted    int64   // of those, for callers that had left
	WastedPct float64 // share of the backend's work spent on abandoned searches, in %
	Recovered bool
	Recovery  time.Duration // from the end of the flood until goodput matches the offered load
	Series    []Second
	FirstErr  string `json:",omitempty"` // the first unexpected error, for diagnosis
}

const searchBody = `{"query":{"match":{"message":"levee"}},"size":10}`

// RunVariant runs one variant on a fresh backend in this process and
// returns its result. progress, if not nil, is called about four times a
// second from another goroutine.
func RunVariant(ctx context.Context, cfg Config, name string, progress func(Progress)) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	v, ok := variantByName(name)
	if !ok {
		return Result{}, fmt.Errorf("flood: unknown variant %q; allowed: %s", name, strings.Join(VariantNames(), ", "))
	}
	iters := cfg.WorkIters
	if iters == 0 {
		iters = Calibrate(cfg.CPUWork)
	}

	// A server-side guard may read the backend's load signal; it is built
	// before the backend, so it reads the signal through this pointer.
	var backend atomic.Pointer[Backend]
	util := func() int64 {
		if b := backend.Load(); b != nil {
			return b.Utilization()
		}
		return 0
	}
	var guard func(http.Handler) http.Handler
	closeGuard := func() {}
	if v.server != nil {
		g, c, err := v.server(util)
		if err != nil {
			return Result{}, err
		}
		guard, closeGuard = g, c
	}
	srv, err := StartServer(cfg, iters, guard)
	if err != nil {
		closeGuard()
		return Result{}, err
	}
	backend.Store(srv.Backend)
	return runLoad(ctx, cfg, v, srv, closeGuard, progress)
}

func runLoad(ctx context.Context, cfg Config, v Variant, srv *Server, closeGuard func(), progress func(Progress)) (res Result, err error) {
	defer closeGuard()
	defer srv.Close()

	base := &http.Transport{
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	defer base.CloseIdleConnections()
	var rt http.RoundTripper = base
	if v.client != nil {
		if rt, err = v.client(base); err != nil {
			return Result{}, err
		}
	}
	u, _ := url.Parse(srv.URL)
	tp, err := elastictransport.New(elastictransport.Config{
		URLs:      []*url.URL{u},
		Transport: rt,
		// Retry on transport errors, as the client does by default, but
		// not on a guard's rejection or once the caller's time is up.
		RetryOnError: func(req *http.Request, err error) bool {
			return !isRejection(err) && req.Context().Err() == nil
		},
	})
	if err != nil {
		return Result{}, fmt.Errorf("flood: elasticsearch client: %w", err)
	}
	es := esapi.New(tp)
	{
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := es.Info(es.Info.WithContext(wctx))
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("flood: backend did not answer: %w", err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
		if r.IsError() {
			return Result{}, fmt.Errorf("flood: backend answered %s", r.Status())
		}
	}

	var (
		mu       sync.Mutex // guards calls, firstErr
		calls    = make([]call, 0, int(float64(cfg.Capacity)*(cfg.NormalFactor*(cfg.Before+cfg.After).Seconds()+cfg.FloodFactor*cfg.Flood.Seconds())*1.1)+16)
		firstErr string
		okCount  atomic.Int64
		wg       sync.WaitGroup
	)
	total := cfg.Total()
	nsec := int(math.Ceil(total.Seconds()))
	wastedAt := make([]int64, nsec+1)
	maxQueue := make([]int, nsec+1)

	start := time.Now()
	do := func(arrive time.Duration) {
		defer wg.Done()
		rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		t0 := time.Now()
		r, err := es.Search(
			es.Search.WithContext(rctx),
			es.Search.WithIndex("logs"),
			es.Search.WithBody(strings.NewReader(searchBody)),
		)
		var out uint8
		switch {
		case err != nil && isRejection(err):
			out = outRejected
		case err != nil && rctx.Err() != nil:
			out = outTimeout
		case err != nil:
			out = outError
		default:
			_, rerr := io.Copy(io.Discard, r.Body)
			_ = r.Body.Close()
			switch {
			case rerr != nil && rctx.Err() != nil:
				out = outTimeout
			case rerr != nil:
				out, err = outError, rerr
			case r.StatusCode == http.StatusOK:
				out = outOK
			case r.StatusCode == http.StatusServiceUnavailable || r.StatusCode == http.StatusTooManyRequests:
				out = outShed
			default:
				out, err = outError, errors.New(r.Status())
			}
		}
		lat := time.Since(t0)
		if out == outOK && lat > cfg.Timeout {
			out = outTimeout
		}
		if out == outOK {
			okCount.Add(1)
		}
		mu.Lock()
		calls = append(calls, call{arrive: arrive, latency: lat, outcome: out})
		if out == outError && firstErr == "" {
			firstErr = err.Error()
		}
		mu.Unlock()
	}

	// Progress and per-second samples of the backend.
	stopSampler := make(chan struct{})
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var hist []int64 // okCount at each tick
		for n := 1; ; n++ {
			select {
			case <-stopSampler:
				return
			case <-tick.C:
			}
			el := time.Since(start)
			s := min(int(el/time.Second), nsec)
			st := srv.Backend.Stats()
			wastedAt[s] = st.Wasted
			maxQueue[s] = max(maxQueue[s], st.Queued)
			hist = append(hist, okCount.Load())
			if progress != nil && n%3 == 0 {
				back := min(len(hist)-1, 10)
				gp := float64(hist[len(hist)-1]-hist[len(hist)-1-back]) / (float64(back) / 10) / float64(cfg.Capacity)
				if back == 0 {
					gp = 0
				}
				ph, _ := cfg.phaseAt(el)
				if el >= total {
					ph = "drain"
				}
				progress(Progress{Elapsed: min(el, total), Phase: ph, Goodput: gp, Queue: st.Queued})
			}
		}
	}()

	// Open-loop arrivals: Poisson at the phase's rate, the same sequence
	// for every variant.
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x666c6f6f64))
	var next time.Duration
	for next < total {
		_, rate := cfg.phaseAt(next)
		if d := time.Until(start.Add(next)); d > time.Millisecond {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go do(next)
		next += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
	}
	wg.Wait()
	close(stopSampler)
	<-samplerDone
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	st := srv.Backend.Stats()
	for i := 1; i <= nsec; i++ {
		if wastedAt[i] == 0 {
			wastedAt[i] = wastedAt[i-1]
		}
	}
	res = summarize(cfg, v, calls, wastedAt, maxQueue)
	res.Served, res.Wasted = st.Served, st.Wasted
	if st.Busy > 0 {
		res.WastedPct = 100 * float64(st.WastedBusy) / float64(st.Busy)
	}
	res.FirstErr = firstErr
	return res, nil
}

// summarize turns the calls of a run into its result.
func summarize(cfg Config, v Variant, calls []call, wastedAt []int64, maxQueue []int) Result {
	res := Result{Variant: v.Name, Position: v.Position, Levee: v.Levee, Fair: v.Fair, Capacity: cfg.Capacity, Timeout: cfg.Timeout}
	total := cfg.Total()
	nsec := int(math.Ceil(total.Seconds()))
	series := make([]Second, nsec)
	for i := range series {
		series[i].Second = i
		series[i].Phase, _ = cfg.phaseAt(time.Duration(i) * time.Second)
		series[i].MaxQueue = maxQueue[i]
		if i+1 < len(wastedAt) {
			series[i].Wasted = wastedAt[i+1] - wastedAt[i]
		}
	}
	floodEnd := cfg.Before + cfg.Flood
	var okIn [3]int
	var offIn [3]int
	var floodLat, steadyLat []time.Duration
	steady := cfg.Before + cfg.SteadyFrom()
	phaseIdx := func(t time.Duration) int {
		switch {
		case t < cfg.Before:
			return 0
		case t < floodEnd:
			return 1
		}
		return 2
	}
	const bin = 100 * time.Millisecond
	nbins := int((cfg.After + bin - 1) / bin)
	binOff := make([]int, nbins)
	binOK := make([]int, nbins)
	for _, c := range calls {
		res.Calls++
		offIn[phaseIdx(c.arrive)]++
		if s := int(c.arrive / time.Second); s < nsec {
			series[s].Offered++
		}
		end := c.arrive + c.latency
		es := min(int(end/time.Second), nsec-1)
		if c.arrive >= floodEnd {
			if b := int((c.arrive - floodEnd) / bin); b < nbins {
				binOff[b]++
				if c.outcome == outOK {
					binOK[b]++
				}
			}
		}
		switch c.outcome {
		case outOK:
			res.OK++
			if end < total {
				okIn[phaseIdx(end)]++
				series[es].OK++
			}
			if c.arrive >= cfg.Before && c.arrive < floodEnd {
				floodLat = append(floodLat, c.latency)
				if c.arrive >= steady {
					steadyLat = append(steadyLat, c.latency)
				}
			}
		case outRejected:
			res.Rejected++
			series[es].Rejected++
		case outShed:
			res.Shed++
			series[es].Shed++
		case outTimeout:
			res.TimedOut++
			series[es].TimedOut++
		default:
			res.Errors++
			series[es].Errors++
		}
	}
	capf := float64(cfg.Capacity)
	pr := func(i int, d time.Duration) PhaseResult {
		return PhaseResult{Offered: float64(offIn[i]) / d.Seconds() / capf, Goodput: float64(okIn[i]) / d.Seconds() / capf}
	}
	res.Before, res.Flood, res.After = pr(0, cfg.Before), pr(1, cfg.Flood), pr(2, cfg.After)
	if len(floodLat) > 0 {
		slices.Sort(floodLat)
		res.P50 = floodLat[len(floodLat)*50/100]
		res.P99 = floodLat[min(len(floodLat)-1, len(floodLat)*99/100)]
	}
	if len(steadyLat) > 0 {
		slices.Sort(steadyLat)
		res.P99Steady = steadyLat[min(len(steadyLat)-1, len(steadyLat)*99/100)]
	}
	res.Recovered, res.Recovery = recovery(binOff, binOK, bin)
	res.Series = series
	return res
}

// recovery finds the first 100 ms bin after the flood from which every
// later half-second window (by arrival) has at least 90% of its searches
// answered in time.
func recovery(off, ok []int, bin time.Duration) (bool, time.Duration) {
	const window = 5
	const need = 0.9
	good := func(i int) bool {
		var o, k int
		for j := i; j < min(i+window, len(off)); j++ {
			o += off[j]
			k += ok[j]
		}
		return o == 0 || float64(k) >= need*float64(o)
	}
	last := -1 // last window start that fails
	for i := range off {
		if !good(i) {
			last = i
		}
	}
	if last == len(off)-1 || (last >= 0 && last+window >= len(off)) {
		return false, 0
	}
	return true, time.Duration(last+1) * bin
}
