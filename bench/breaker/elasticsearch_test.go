package breaker

import (
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/breaker"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeElasticsearch answers like an Elasticsearch node (the product header
// elasticsearch.NewClient checks, a root document, search results) until
// told to fail, then answers 503 to everything.
type fakeElasticsearch struct {
	hits    atomic.Int64
	failing atomic.Bool
}

func (f *fakeElasticsearch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if f.failing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":{"type":"cluster_block_exception","reason":"overloaded"},"status":503}`)
		return
	}
	switch {
	case r.URL.Path == "/":
		_, _ = io.WriteString(w, `{"name":"es-1","cluster_name":"bench","version":{"number":"8.19.7"},"tagline":"You Know, for Search"}`)
	case strings.HasSuffix(r.URL.Path, "/_search"):
		_, _ = io.WriteString(w, `{"took":1,"timed_out":false,"hits":{"total":{"value":1,"relation":"eq"},"hits":[{"_index":"logs","_id":"1","_source":{"msg":"ok"}}]}}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"not found","status":404}`)
	}
}

// TestElasticsearchClientBehindBreaker wraps the real Elasticsearch Go
// client around the breaker's Transport, as the README shows, and runs it
// through a healthy spell, a 20 s outage and the recovery, at 200 searches
// a second of fake time.
func TestElasticsearchClientBehindBreaker(t *testing.T) {
	node := &fakeElasticsearch{}
	srv := httptest.NewServer(node)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()

	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rt, err := breaker.NewTransport(base, breaker.WithClock(clk), breaker.WithRand(rand.New(rand.NewPCG(1, 1)).Float64))
	require.NoError(t, err)
	// The client retries 503s and transport errors, rejections included,
	// up to three times: count the attempts it makes.
	var attempts atomic.Int64
	counting := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return rt.RoundTrip(r)
	})
	es := esClient(t, srv.URL, elastictransport.Config{Transport: counting})

	type tally struct{ calls, ok, failed, rejected int }
	type traffic struct{ attempts, hits int64 }
	const rate = 200
	search := func() (ok, rejected bool) {
		clk.Advance(time.Second / rate)
		res, err := es.Search(
			es.Search.WithIndex("logs"),
			es.Search.WithBody(strings.NewReader(`{"query":{"match_all":{}}}`)),
		)
		if err != nil {
			require.ErrorIs(t, err, breaker.ErrServiceUnavailable, "the client's error is the breaker's rejection")
			assert.Contains(t, err.Error(), srv.Listener.Addr().String(), "the rejection names the host")
			return false, true
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return !res.IsError(), false
	}
	// run searches for d and returns a tally and the traffic per second.
	var seconds []traffic
	run := func(d time.Duration) []tally {
		var out []tally
		seconds = seconds[:0]
		for s := 0; s < int(d/time.Second); s++ {
			var tl tally
			a0, h0 := attempts.Load(), node.hits.Load()
			for range rate {
				ok, rejected := search()
				tl.calls++
				switch {
				case ok:
					tl.ok++
				case rejected:
					tl.rejected++
				default:
					tl.failed++
				}
			}
			out = append(out, tl)
			seconds = append(seconds, traffic{attempts.Load() - a0, node.hits.Load() - h0})
		}
		return out
	}
	total := func(ts []tally) (t tally) {
		for _, x := range ts {
			t.calls += x.calls
			t.ok += x.ok
			t.failed += x.failed
			t.rejected += x.rejected
		}
		return t
	}

	healthy := total(run(2 * time.Second))
	assert.Equal(t, tally{calls: 400, ok: 400}, healthy)

	node.failing.Store(true)
	outage := run(20 * time.Second)
	down := total(outage)
	var all, late traffic
	for i, s := range seconds {
		all.attempts += s.attempts
		all.hits += s.hits
		if i >= 10 {
			late.attempts += s.attempts
			late.hits += s.hits
		}
		assert.Greater(t, s.hits, int64(0), "second %d of the outage: no probe reached the node", i)
	}
	t.Logf("outage: %d searches, %d attempts, %d requests reached the node (%d and %d in the last 10 s)", down.calls, all.attempts, all.hits, late.attempts, late.hits)
	assert.Equal(t, 0, down.ok)
	assert.Greater(t, down.rejected, down.calls*8/10, "most searches end rejected locally")
	assert.Less(t, float64(all.hits), 0.25*float64(all.attempts), "the node sees far fewer requests than the client makes")
	assert.Less(t, float64(late.hits), 0.03*float64(late.attempts), "10-20 s into the outage nearly nothing reaches the node")

	node.failing.Store(false)
	recovery := run(10 * time.Second)
	t.Logf("recovery, per second: %+v", recovery[:3])
	assert.GreaterOrEqual(t, float64(recovery[0].ok)/rate, 0.5, "first second after healing")
	for i, s := range recovery[1:] {
		assert.Equal(t, tally{calls: rate, ok: rate}, s, "second %d after healing", i+1)
	}
	assert.Equal(t, 0.0, rt.Group().Get(srv.Listener.Addr().String()).Stats().Probability)
}

// TestElasticsearchRejectionIsNotRetried shows the client configured not
// to retry the breaker's rejections (it retries transport errors by
// default, up to three times).
func TestElasticsearchRejectionIsNotRetried(t *testing.T) {
	node := &fakeElasticsearch{}
	node.failing.Store(true)
	srv := httptest.NewServer(node)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()

	var attempts atomic.Int64
	counting := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return base.RoundTrip(r)
	})
	es := esClient(t, srv.URL, elastictransport.Config{
		Transport: breaker.Transport(counting, breaker.WithProbeInterval(time.Hour), breaker.WithRand(func() float64 { return 0 })),
		RetryOnError: func(_ *http.Request, err error) bool {
			return !errors.Is(err, breaker.ErrServiceUnavailable)
		},
	})
	var rejected int
	for range 20 {
		res, err := es.Info()
		if err != nil {
			require.ErrorIs(t, err, breaker.ErrServiceUnavailable)
			rejected++
			continue
		}
		_ = res.Body.Close()
	}
	// The first request is tried four times (the client retries 503s),
	// the second twice more, which spends the protection of 5; from then
	// on the breaker rejects every attempt, the client does not retry the
	// rejection, and nothing reaches the node.
	assert.Equal(t, 19, rejected)
	assert.Equal(t, int64(6), attempts.Load())
	assert.Equal(t, int64(6), node.hits.Load())
}

// esClient is the Elasticsearch client as elasticsearch.NewClient builds
// it (esapi over elastic-transport, the same retry defaults) for the node
// at addr, configured by cfg.
func esClient(t *testing.T, addr string, cfg elastictransport.Config) *esapi.API {
	t.Helper()
	u, err := url.Parse(addr)
	require.NoError(t, err)
	cfg.URLs = []*url.URL{u}
	tp, err := elastictransport.New(cfg)
	require.NoError(t, err)
	return esapi.New(tp)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
