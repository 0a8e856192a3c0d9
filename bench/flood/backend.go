package flood

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// job is one search waiting for or holding a worker.
type job struct {
	ctx     context.Context // the HTTP request's: done once the caller has left
	arrived time.Time
	done    chan struct{} // closed when the search is answered
}

// BackendStats are the backend's counters since it started.
type BackendStats struct {
	Served      int64         // searches finished by a worker
	Wasted      int64         // of those, searches whose caller had left
	Busy        time.Duration // worker time spent on searches
	WastedBusy  time.Duration // of that, time spent on searches whose caller had left
	Rejected429 int64         // searches refused by admission control
	Queued      int           // searches waiting now
	Running     int           // searches holding a worker now
}

// Backend is the simulated Elasticsearch node: an http.Handler with a
// worker pool and a search queue. It is safe for concurrent use. Close
// stops it, dropping the searches still queued.
type Backend struct {
	cfg     Config
	service time.Duration
	iters   int

	mu      sync.Mutex // guards queue, head, closed
	cond    *sync.Cond
	queue   []*job
	head    int
	closed  bool
	running atomic.Int64
	wg      sync.WaitGroup

	served, wasted, busy, wastedBusy, rejected429 atomic.Int64
	stop                                          chan struct{}

	util atomic.Int64 // busy workers over the last utilWindow, in permille
}

// The utilization signal is the share of busy workers sampled every
// utilTick and averaged over utilWindow, as a CPU usage figure is averaged
// over its sampling interval.
const (
	utilTick    = 10 * time.Millisecond
	utilSamples = 25 // utilWindow = 250 ms
)

// NewBackend starts the workers of a backend configured by cfg; iters is
// the calibrated number of scoring iterations of one search.
func NewBackend(cfg Config, iters int) *Backend {
	b := &Backend{cfg: cfg, service: cfg.ServiceTime(), iters: iters, stop: make(chan struct{})}
	b.cond = sync.NewCond(&b.mu)
	for range cfg.Workers {
		b.wg.Add(1)
		go b.work()
	}
	b.wg.Add(1)
	go b.sample()
	return b
}

// Close stops the workers, drops the queue and waits.
func (b *Backend) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	for i := b.head; i < len(b.queue); i++ {
		b.queue[i] = nil
	}
	b.queue, b.head = nil, 0
	b.mu.Unlock()
	b.cond.Broadcast()
	b.wg.Wait()
}

// Stats returns the backend's counters.
func (b *Backend) Stats() BackendStats {
	b.mu.Lock()
	q := len(b.queue) - b.head
	b.mu.Unlock()
	return BackendStats{
		Served:      b.served.Load(),
		Wasted:      b.wasted.Load(),
		Busy:        time.Duration(b.busy.Load()),
		WastedBusy:  time.Duration(b.wastedBusy.Load()),
		Rejected429: b.rejected429.Load(),
		Queued:      q,
		Running:     int(b.running.Load()),
	}
}

// Utilization returns the share of busy workers over the last 250 ms, in
// permille: the node's overload signal (a real node's search thread pool
// "active / size", its CPU usage when searches are CPU-bound).
func (b *Backend) Utilization() int64 { return b.util.Load() }

func (b *Backend) sample() {
	defer b.wg.Done()
	tick := time.NewTicker(utilTick)
	defer tick.Stop()
	var ring [utilSamples]int64
	var sum int64
	for i := 0; ; i++ {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
		u := b.running.Load() * 1000 / int64(b.cfg.Workers)
		k := i % utilSamples
		sum += u - ring[k]
		ring[k] = u
		b.util.Store(sum / utilSamples)
	}
}

// push queues j, or reports false if admission control refuses it.
func (b *Backend) push(j *job) bool {
	b.mu.Lock()
	if b.closed || (b.cfg.Backend == Admission && len(b.queue)-b.head >= b.cfg.QueueSize) {
		b.mu.Unlock()
		return false
	}
	if b.head > 0 && b.head >= len(b.queue)/2 {
		n := copy(b.queue, b.queue[b.head:])
		clear(b.queue[n:])
		b.queue, b.head = b.queue[:n], 0
	}
	b.queue = append(b.queue, j)
	b.mu.Unlock()
	b.cond.Signal()
	return true
}

// pop waits for the next search; it returns the search and the queue
// length behind it, or nil once the backend is closed.
func (b *Backend) pop() (*job, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for !b.closed && b.head == len(b.queue) {
		b.cond.Wait()
	}
	if b.closed {
		return nil, 0
	}
	j := b.queue[b.head]
	b.queue[b.head] = nil
	b.head++
	return j, len(b.queue) - b.head
}

// slowdown is the memory-pressure factor of a search that starts with q
// searches queued behind it.
func (b *Backend) slowdown(q int) float64 {
	if b.cfg.PressureQueue == 0 {
		return 1
	}
	return min(b.cfg.MaxSlowdown, 1+float64(q)/float64(b.cfg.PressureQueue))
}

// work is one worker: it takes searches in order and holds each for its
// service time. Deadlines are absolute (each search ends service time
// after the previous one when the queue is not empty), so a late wake-up
// of the timer does not lower the capacity.
func (b *Backend) work() {
	defer b.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var last time.Time
	for {
		j, q := b.pop()
		if j == nil {
			return
		}
		b.running.Add(1)
		now := time.Now()
		start := now
		if last.After(now.Add(-b.service)) && last.Before(now) {
			start = last
		}
		if start.Before(j.arrived) {
			start = j.arrived
		}
		score(b.iters)
		d := time.Duration(float64(b.service) * b.slowdown(q))
		end := start.Add(d)
		if wait := time.Until(end); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-b.stop:
				b.running.Add(-1)
				return
			}
		}
		last = end
		b.running.Add(-1)
		b.served.Add(1)
		b.busy.Add(int64(d))
		if j.ctx.Err() != nil {
			b.wasted.Add(1)
			b.wastedBusy.Add(int64(d))
		}
		close(j.done)
	}
}

const (
	rootDoc   = `{"name":"flood-node-1","cluster_name":"flood","cluster_uuid":"flood","version":{"number":"8.19.7","build_flavor":"default","lucene_version":"9.12.0","minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}`
	healthDoc = `{"cluster_name":"flood","status":"green","timed_out":false,"number_of_nodes":1,"number_of_data_nodes":1,"active_primary_shards":1,"active_shards":1,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":0}`
)

// ServeHTTP answers the Elasticsearch API the client uses.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/_search"):
		b.search(w, r)
	case r.URL.Path == "/":
		writeJSON(w, http.StatusOK, rootDoc)
	case r.URL.Path == "/_cluster/health":
		writeJSON(w, http.StatusOK, healthDoc)
	default:
		writeError(w, http.StatusNotFound, "resource_not_found_exception", "no handler found for uri ["+r.URL.Path+"] and method ["+r.Method+"]")
	}
}

func (b *Backend) search(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or POST for _search")
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	j := &job{ctx: r.Context(), arrived: time.Now(), done: make(chan struct{})}
	if !b.push(j) {
		b.rejected429.Add(1)
		writeError(w, http.StatusTooManyRequests, "es_rejected_execution_exception",
			"rejected execution of search on EsThreadPoolExecutor[name = flood-node-1/search, queue capacity = "+strconv.Itoa(b.cfg.QueueSize)+"]")
		return
	}
	// Like the node of the story, the handler does not notice a caller
	// that leaves: the search runs to its end and the answer goes nowhere.
	select {
	case <-j.done:
		took := time.Since(j.arrived).Milliseconds()
		writeJSON(w, http.StatusOK, `{"took":`+strconv.FormatInt(took, 10)+`,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":{"value":1,"relation":"eq"},"max_score":1.0,"hits":[{"_index":"logs","_id":"1","_score":1.0,"_source":{"message":"levee"}}]}}`)
	case <-b.stop:
		writeError(w, http.StatusServiceUnavailable, "node_closed_exception", "node closed")
	}
}

func writeJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func writeError(w http.ResponseWriter, code int, typ, reason string) {
	writeJSON(w, code, fmt.Sprintf(`{"error":{"root_cause":[{"type":%q,"reason":%q}],"type":%q,"reason":%q},"status":%d}`, typ, reason, typ, reason, code))
}

// productHeader marks every answer, the guards' included, as coming from
// Elasticsearch, as the client checks.
func productHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		next.ServeHTTP(w, r)
	})
}

// Server is a Backend listening on a loopback port, behind an optional
// server-side guard.
type Server struct {
	Backend *Backend
	URL     string
	srv     *http.Server
	done    chan struct{}
}

// StartServer starts a backend on 127.0.0.1 behind guard (nil: none).
func StartServer(cfg Config, iters int, guard func(http.Handler) http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("flood: listen: %w", err)
	}
	b := NewBackend(cfg, iters)
	var h http.Handler = b
	if guard != nil {
		h = guard(h)
	}
	s := &Server{
		Backend: b,
		URL:     "http://" + ln.Addr().String(),
		srv:     &http.Server{Handler: productHeader(h), ReadHeaderTimeout: 10 * time.Second, ErrorLog: discardLog},
		done:    make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		// Serve returns http.ErrServerClosed once Close is called; any
		// other error ends the listener early and shows as failed searches.
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the server and its backend and waits for both.
func (s *Server) Close() {
	s.Backend.Close()
	_ = s.srv.Close()
	<-s.done
}
