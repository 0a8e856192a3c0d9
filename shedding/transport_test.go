package shedding_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/shedding"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// closeBody is a request body that records that it was closed.
type closeBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *closeBody) Close() error { b.closed.Store(true); return nil }

// gate is a base transport that holds each request until released and
// answers it with the status set for its host.
type gate struct {
	calls   atomic.Int64
	release chan struct{}
	status  func(host string) int
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.calls.Add(1)
	select {
	case <-g.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	code := http.StatusOK
	if g.status != nil {
		code = g.status(r.URL.Host)
	}
	return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

func TestTransportLimitsPerHost(t *testing.T) {
	g := &gate{release: make(chan struct{})}
	rt, err := shedding.NewTransport(g, shedding.WithMinLimit(1), shedding.WithInitialLimit(1), shedding.WithLimiterClock(newFakeClock()))
	require.NoError(t, err)

	var wg sync.WaitGroup
	send := func(url string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			resp, err := rt.RoundTrip(req)
			if err == nil {
				_ = resp.Body.Close()
			}
		}()
	}
	send("http://es-1:9200/_search")
	send("http://es-2:9200/_search")
	require.Eventually(t, func() bool { return g.calls.Load() == 2 }, 5*time.Second, time.Millisecond)

	// es-1's one slot is taken: the next request to it never reaches the
	// network, its body is closed and the error names the host.
	body := &closeBody{Reader: strings.NewReader(`{"query":{}}`)}
	req, _ := http.NewRequest(http.MethodPost, "http://es-1:9200/_search", body)
	resp, err := rt.RoundTrip(req)
	assert.Nil(t, resp)
	require.ErrorIs(t, err, shedding.ErrLimited)
	assert.EqualError(t, err, "shedding: es-1:9200: concurrency limit reached")
	assert.True(t, body.closed.Load())
	assert.Equal(t, int64(2), g.calls.Load())

	l := rt.Limiter("es-1:9200")
	require.NotNil(t, l)
	assert.Equal(t, 1, l.Stats().InFlight)
	assert.Equal(t, int64(1), l.Stats().Rejected[shedding.Default.Index()])
	assert.Nil(t, rt.Limiter("es-3:9200"))

	close(g.release)
	wg.Wait()
	assert.Equal(t, 0, l.Stats().InFlight)
	assert.Equal(t, 0, rt.Limiter("es-2:9200").Stats().InFlight)
}

func TestTransportOutcomes(t *testing.T) {
	status := http.StatusOK
	var fail error
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if fail != nil {
			return nil, fail
		}
		return &http.Response{StatusCode: status, Body: http.NoBody, Request: r}, nil
	})
	rt, err := shedding.NewTransport(base, shedding.WithLimiterClock(newFakeClock()))
	require.NoError(t, err)
	do := func(ctx context.Context) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://es:9200/", nil)
		resp, err := rt.RoundTrip(req)
		if err == nil {
			_ = resp.Body.Close()
		}
	}
	// 429, 503 and 504 are the server's overload signals; other statuses
	// are answers.
	for _, code := range []int{200, 404, 500, 429, 503, 504} {
		status = code
		do(context.Background())
	}
	l := rt.Limiter("es:9200")
	assert.Equal(t, int64(3), l.Stats().Drops)
	// A timeout is one; a canceled request and other errors are neutral.
	fail = context.DeadlineExceeded
	do(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fail = context.Canceled
	do(ctx)
	fail = errors.New("connection refused")
	do(context.Background())
	s := l.Stats()
	assert.Equal(t, int64(4), s.Drops)
	assert.Equal(t, 0, s.InFlight)
	assert.Equal(t, int64(8), s.Acquired[shedding.Default.Index()])
	assert.Equal(t, int64(0), s.Rejected[shedding.Default.Index()], "a request canceled before it is sent is not a rejection")
}

func TestTransportOptions(t *testing.T) {
	_, err := shedding.NewTransport(nil, shedding.WithHostKey(nil), shedding.WithOverloadStatus(nil), shedding.WithRequestPriority(nil), shedding.WithMaxHosts(0), shedding.WithInitialLimit(0), nil)
	require.Error(t, err)
	for _, want := range []string{"nil host key function", "nil overload-status function", "nil request-priority function", "max hosts must be between 1 and 1048576, got 0", "initial limit", "nil TransportOption"} {
		assert.ErrorContains(t, err, want)
	}
	assert.PanicsWithError(t, "shedding: nil host key function", func() { shedding.Transport(nil, shedding.WithHostKey(nil)) })

	// Keyed by path prefix, with classes from a header; one host at most.
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	rt, err := shedding.NewTransport(base,
		shedding.WithHostKey(func(r *http.Request) string { return r.URL.Host + "/" + strings.Split(r.URL.Path, "/")[1] }),
		shedding.WithRequestPriority(func(r *http.Request) shedding.Priority {
			switch r.Header.Get("X-Priority") {
			case "low":
				return shedding.Sheddable
			case "bad":
				return 9
			}
			return shedding.Default
		}),
		shedding.WithMaxHosts(1))
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodGet, "http://es:9200/logs/_search", nil)
	req.Header.Set("X-Priority", "low")
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	l := rt.Limiter("es:9200/logs")
	require.NotNil(t, l)
	assert.Equal(t, int64(1), l.Stats().Acquired[shedding.Sheddable.Index()])

	req.Header.Set("X-Priority", "bad")
	_, err = rt.RoundTrip(req)
	require.EqualError(t, err, "shedding: request priority 9 is not a valid class")

	// The idle limiter of /logs makes room for /metrics.
	req, _ = http.NewRequest(http.MethodGet, "http://es:9200/metrics/_search", nil)
	resp, err = rt.RoundTrip(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Nil(t, rt.Limiter("es:9200/logs"))
	assert.NotNil(t, rt.Limiter("es:9200/metrics"))
}

func TestTransportOverHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: shedding.Transport(base)}
	for range 20 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, "ok", string(b))
	}
	client.CloseIdleConnections()
}
