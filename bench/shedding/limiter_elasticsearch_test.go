package shedding

import (
	"errors"
	"io"
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
	"github.com/levee-go/levee/shedding"
)

// esNode answers like an Elasticsearch node (the product header
// elasticsearch.NewClient checks, search results). Each search holds one of its few search
// threads for a few milliseconds; the rest wait in its queue, as a real
// node's thread pool does.
type esNode struct {
	threads   chan struct{}
	service   time.Duration
	hits      atomic.Int64
	inNode    atomic.Int64 // searches in the node, queued or running
	maxInNode atomic.Int64
	hold      chan struct{} // if not nil, searches wait on it
}

func (n *esNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.hits.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if !strings.HasSuffix(r.URL.Path, "/_search") {
		_, _ = io.WriteString(w, `{"name":"es-1","cluster_name":"bench","version":{"number":"8.19.7"},"tagline":"You Know, for Search"}`)
		return
	}
	in := n.inNode.Add(1)
	defer n.inNode.Add(-1)
	for m := n.maxInNode.Load(); in > m && !n.maxInNode.CompareAndSwap(m, in); m = n.maxInNode.Load() {
	}
	if n.hold != nil {
		<-n.hold
	}
	n.threads <- struct{}{}
	time.Sleep(n.service)
	<-n.threads
	_, _ = io.WriteString(w, `{"took":1,"timed_out":false,"hits":{"total":{"value":1,"relation":"eq"},"hits":[{"_index":"logs","_id":"1","_source":{"msg":"ok"}}]}}`)
}

// esClient is the Elasticsearch client with the adaptive limit in front of
// the breaker, as the README shows: the limit outermost, so that its
// rejections never count as failures of the node in the breaker, and the
// client told not to retry either guard's rejection.
func esClient(t *testing.T, addr string, base http.RoundTripper, opts ...shedding.TransportOption) (*esapi.API, *shedding.RoundTripper) {
	t.Helper()
	lim, err := shedding.NewTransport(breaker.Transport(base), opts...)
	require.NoError(t, err)
	u, err := url.Parse(addr)
	require.NoError(t, err)
	tp, err := elastictransport.New(elastictransport.Config{
		URLs:      []*url.URL{u},
		Transport: lim,
		RetryOnError: func(_ *http.Request, err error) bool {
			return !errors.Is(err, shedding.ErrLimited) && !errors.Is(err, breaker.ErrServiceUnavailable)
		},
	})
	require.NoError(t, err)
	return esapi.New(tp), lim
}

func search(es *esapi.API) error {
	res, err := es.Search(es.Search.WithIndex("logs"), es.Search.WithBody(strings.NewReader(`{"query":{"match_all":{}}}`)))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.IsError() {
		return errors.New(res.Status())
	}
	return nil
}

// TestElasticsearchClientBehindLimiter: with the limit full, a search is
// rejected by the client itself, names the node, is not retried and never
// reaches the node.
func TestElasticsearchClientBehindLimiter(t *testing.T) {
	node := &esNode{threads: make(chan struct{}, 1), hold: make(chan struct{})}
	srv := httptest.NewServer(node)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	es, lim := esClient(t, srv.URL, base, shedding.WithMinLimit(1), shedding.WithInitialLimit(1))

	first := make(chan error, 1)
	go func() { first <- search(es) }()
	require.Eventually(t, func() bool { return node.inNode.Load() == 1 }, 10*time.Second, time.Millisecond)

	err := search(es)
	require.ErrorIs(t, err, shedding.ErrLimited)
	assert.Contains(t, err.Error(), srv.Listener.Addr().String(), "the rejection names the node")
	assert.Equal(t, int64(1), node.hits.Load(), "the rejected search never reached the node")

	close(node.hold)
	require.NoError(t, <-first)
	l := lim.Limiter(srv.Listener.Addr().String())
	require.NotNil(t, l)
	s := l.Stats()
	assert.Equal(t, int64(1), s.Rejected[shedding.Default.Index()])
	assert.Equal(t, 0, s.InFlight)
}

// TestElasticsearchFloodBehindLimiter: 32 callers search as fast as they
// can against a node with 4 search threads until 600 have succeeded. The
// limit keeps the node's queue short; every search either succeeds or is
// rejected locally.
func TestElasticsearchFloodBehindLimiter(t *testing.T) {
	node := &esNode{threads: make(chan struct{}, 4), service: 2 * time.Millisecond}
	srv := httptest.NewServer(node)
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	es, lim := esClient(t, srv.URL, base, shedding.WithMinLimit(1), shedding.WithInitialLimit(8), shedding.WithMaxLimit(16))

	var ok, rejected atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ok.Load() < 600 {
				err := search(es)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, shedding.ErrLimited):
					rejected.Add(1)
					time.Sleep(time.Millisecond)
				default:
					t.Errorf("search: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s := lim.Limiter(srv.Listener.Addr().String()).Stats()
	t.Logf("ok %d, rejected %d, node hits %d, most in the node %d, %+v", ok.Load(), rejected.Load(), node.hits.Load(), node.maxInNode.Load(), s)
	assert.Equal(t, int64(s.Acquired[shedding.Default.Index()]), ok.Load())
	assert.Equal(t, int64(s.Rejected[shedding.Default.Index()]), rejected.Load())
	assert.Greater(t, s.Baseline, time.Duration(0), "the limiter measured the node")
	assert.Greater(t, rejected.Load(), int64(0), "32 callers against a limit of at most 16")
	assert.LessOrEqual(t, node.maxInNode.Load(), int64(16), "the node never queues more than the limit")
	assert.Equal(t, ok.Load(), node.hits.Load(), "rejected searches never reach the node")
}

type limRoundTripFunc func(*http.Request) (*http.Response, error)

func (f limRoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestLimiterAndBreakerEitherOrder: the limit and the breaker compose in
// either order; each one's rejection reaches the caller as its own
// sentinel, naming the host, without touching the network.
func TestLimiterAndBreakerEitherOrder(t *testing.T) {
	var sent atomic.Int64
	hold := make(chan struct{})
	base := limRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		<-hold
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: http.NoBody, Request: r}, nil
	})
	orders := map[string]http.RoundTripper{
		"limit-outside": shedding.Transport(breaker.Transport(base,
			breaker.WithProbeInterval(time.Hour), breaker.WithRand(func() float64 { return 0 })),
			shedding.WithMinLimit(1), shedding.WithInitialLimit(1)),
		"breaker-outside": breaker.Transport(shedding.Transport(base, shedding.WithMinLimit(1), shedding.WithInitialLimit(1)),
			breaker.WithProbeInterval(time.Hour), breaker.WithRand(func() float64 { return 0 })),
	}
	for name, rt := range orders {
		t.Run(name, func(t *testing.T) {
			sent.Store(0)
			hold = make(chan struct{})
			client := &http.Client{Transport: rt}
			done := make(chan struct{})
			go func() {
				defer close(done)
				resp, err := client.Get("http://es-1:9200/")
				if err == nil {
					_ = resp.Body.Close()
				}
			}()
			require.Eventually(t, func() bool { return sent.Load() == 1 }, 10*time.Second, time.Millisecond)
			// The limit of one is taken: the next call is the limit's
			// rejection, whichever guard is outside.
			_, err := client.Get("http://es-1:9200/")
			require.ErrorIs(t, err, shedding.ErrLimited)
			assert.Contains(t, err.Error(), "es-1:9200")
			close(hold)
			<-done
			assert.Equal(t, int64(1), sent.Load(), "the rejected call never reached the network")

			// The dependency answers 503: after the breaker's protection of
			// five failures it rejects too, and the limit is not charged
			// with the breaker's rejections.
			var breakerRejected int
			for range 20 {
				resp, err := client.Get("http://es-1:9200/")
				switch {
				case err == nil:
					_ = resp.Body.Close()
				case errors.Is(err, breaker.ErrServiceUnavailable):
					breakerRejected++
				default:
					require.ErrorIs(t, err, shedding.ErrLimited)
				}
			}
			assert.Greater(t, breakerRejected, 5)
		})
	}
}
