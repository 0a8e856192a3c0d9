package breaker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/breaker"
)

func hostOf(r *http.Request) string { return r.URL.Host }

// stubTransport answers every request with status without a network.
type stubTransport struct {
	calls  atomic.Int64
	status atomic.Int64
	err    error
}

func (s *stubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s.calls.Add(1)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if s.err != nil {
		return nil, s.err
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: int(s.status.Load()), Body: http.NoBody, Request: req}, nil
}

// trackedBody records whether it was closed.
type trackedBody struct {
	io.Reader
	closed bool
}

func (b *trackedBody) Close() error { b.closed = true; return nil }

func get(t *testing.T, rt http.RoundTripper, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := rt.RoundTrip(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	return resp, err
}

func TestTransportStatusClassification(t *testing.T) {
	for _, tc := range []struct {
		status int
		fail   bool
	}{
		{200, false}, {201, false}, {304, false}, {400, false}, {404, false}, {409, false},
		{429, true}, {500, true}, {502, true}, {503, true}, {504, true},
	} {
		stub := &stubTransport{}
		stub.status.Store(int64(tc.status))
		rt, err := breaker.NewTransport(stub)
		require.NoError(t, err)
		resp, err := get(t, rt, "http://es-1:9200/idx/_search")
		require.NoError(t, err)
		assert.Equal(t, tc.status, resp.StatusCode, "the response reaches the caller whatever its status")
		st := rt.Group().Get("es-1:9200").Stats()
		assert.Equal(t, int64(1), st.Requests, "status %d", tc.status)
		wantAccepts := int64(1)
		if tc.fail {
			wantAccepts = 0
		}
		assert.Equal(t, wantAccepts, st.Accepts, "status %d", tc.status)
	}
}

func TestTransportRejectsWithoutTouchingTheNetwork(t *testing.T) {
	stub := &stubTransport{}
	stub.status.Store(503)
	clk := newFakeClock()
	rt, err := breaker.NewTransport(stub, breaker.WithClock(clk), breaker.WithRand(rngFloat(1)), breaker.WithProbeInterval(time.Hour))
	require.NoError(t, err)
	for range 100 {
		clk.Advance(time.Millisecond)
		_, _ = get(t, rt, "http://es-1:9200/")
	}
	calls := stub.calls.Load()
	assert.Less(t, calls, int64(50))

	body := &trackedBody{Reader: strings.NewReader(`{"query":{}}`)}
	var rejected error
	for range 100 {
		req, err := http.NewRequest(http.MethodPost, "http://es-1:9200/idx/_search", body)
		require.NoError(t, err)
		req.Body = body
		before := stub.calls.Load()
		resp, err := rt.RoundTrip(req)
		if err != nil {
			assert.Nil(t, resp)
			assert.Equal(t, before, stub.calls.Load(), "a rejected request reached the network")
			assert.True(t, body.closed, "body of a rejected request not closed")
			rejected = err
			break
		}
		_ = resp.Body.Close()
		body.closed = false
	}
	require.Error(t, rejected)
	assert.ErrorIs(t, rejected, breaker.ErrServiceUnavailable)
	assert.EqualError(t, rejected, "breaker: es-1:9200: service unavailable")
	var re *breaker.RejectedError
	require.ErrorAs(t, rejected, &re)
	assert.Equal(t, "es-1:9200", re.Name)

	// Another host is not affected.
	stub.status.Store(200)
	_, err = get(t, rt, "http://es-2:9200/")
	assert.NoError(t, err)
}

func TestTransportCallerCancellationIsNeutral(t *testing.T) {
	stub := &stubTransport{}
	stub.status.Store(200)
	rt, err := breaker.NewTransport(stub)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 50 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://es-1:9200/", nil)
		require.NoError(t, err)
		_, err = rt.RoundTrip(req)
		assert.ErrorIs(t, err, context.Canceled)
	}
	st := rt.Group().Get("es-1:9200").Stats()
	assert.Equal(t, int64(0), st.Requests)
	assert.Equal(t, int64(0), st.Rejections)

	// A deadline, though, is a failure.
	dctx, dcancel := context.WithTimeout(context.Background(), -time.Second)
	defer dcancel()
	req, err := http.NewRequestWithContext(dctx, http.MethodGet, "http://es-1:9200/", nil)
	require.NoError(t, err)
	_, err = rt.RoundTrip(req)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	st = rt.Group().Get("es-1:9200").Stats()
	assert.Equal(t, int64(1), st.Requests)
	assert.Equal(t, int64(0), st.Accepts)

	// So is a transport error.
	failing := &stubTransport{err: errors.New("connection refused")}
	rt, err = breaker.NewTransport(failing)
	require.NoError(t, err)
	_, err = get(t, rt, "http://es-1:9200/")
	assert.EqualError(t, err, "connection refused")
	assert.Equal(t, int64(1), rt.Group().Get("es-1:9200").Stats().Requests)
}

func TestTransportOptions(t *testing.T) {
	stub := &stubTransport{}
	stub.status.Store(404)
	byIndex := func(r *http.Request) string {
		return r.URL.Host + "/" + strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]
	}
	rt, err := breaker.NewTransport(stub,
		breaker.WithKey(byIndex),
		breaker.WithFailureStatus(func(code int) bool { return code >= 400 }),
		breaker.WithMaxBreakers(2))
	require.NoError(t, err)
	_, _ = get(t, rt, "http://es-1:9200/logs/_search")
	_, _ = get(t, rt, "http://es-1:9200/users/_doc/1")
	assert.ElementsMatch(t, []string{"es-1:9200/logs", "es-1:9200/users"}, rt.Group().Names())
	assert.Equal(t, int64(0), rt.Group().Get("es-1:9200/logs").Stats().Accepts, "404 is a failure here")

	assert.PanicsWithError(t, "breaker: K must be a finite number of at least 1, got 0", func() {
		breaker.Transport(stub, breaker.WithK(0))
	})
	_, err = breaker.NewTransport(stub, breaker.WithKey(nil))
	assert.EqualError(t, err, "breaker: nil key function")
}

func TestTransportOverHTTP(t *testing.T) {
	var hits atomic.Int64
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	clk := newFakeClock()
	client := &http.Client{Transport: breaker.Transport(base, breaker.WithClock(clk), breaker.WithRand(rngFloat(1)))}
	defer client.CloseIdleConnections()

	do := func() error {
		clk.Advance(10 * time.Millisecond)
		resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("payload"))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	for range 100 {
		require.NoError(t, do())
	}
	failing.Store(true)
	before := hits.Load()
	rejected := 0
	for range 1000 { // 10 s of failure at 100 req/s
		if err := do(); err != nil {
			require.ErrorIs(t, err, breaker.ErrServiceUnavailable)
			rejected++
		}
	}
	assert.Greater(t, rejected, 400)
	assert.Equal(t, int64(1000-rejected), hits.Load()-before)

	failing.Store(false)
	for range 1000 { // the failures leave the window within 10 s
		_ = do()
	}
	for range 100 {
		require.NoError(t, do(), "still rejecting after recovery")
	}
}

// TestTransportCallerMistakes: a request the caller got wrong gets the
// error net/http gives it, never a panic, and counts against no host.
func TestTransportCallerMistakes(t *testing.T) {
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		require.NoError(t, err)
		return u
	}
	for _, tc := range []struct {
		name string
		req  *http.Request
		want string
	}{
		{"nil URL", &http.Request{Method: "GET", Header: http.Header{}}, "http: nil Request.URL"},
		{"nil Header", &http.Request{Method: "GET", URL: mustURL("http://es-1:9200/")}, "http: nil Request.Header"},
		{"invalid method", &http.Request{Method: "GET /", URL: mustURL("http://es-1:9200/"), Header: http.Header{}}, `net/http: invalid method "GET /"`},
		{"no host", &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Path: "/"}, Header: http.Header{}}, "http: no Host in request URL"},
		{"invalid header", &http.Request{Method: "GET", URL: mustURL("http://es-1:9200/"), Header: http.Header{"Bad Name": {"x"}}}, `net/http: invalid header field name "Bad Name"`},
		{"invalid port", &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: "es-1:92a0"}, Header: http.Header{}}, `breaker: invalid port "92a0" in request URL host "es-1:92a0"`},
		{"unsupported scheme", &http.Request{Method: "GET", URL: mustURL("ftp://es-1:9200/"), Header: http.Header{}}, `unsupported protocol scheme "ftp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, base := range []http.RoundTripper{nil, &http.Transport{}} {
				rt, err := breaker.NewTransport(base, breaker.WithProbeInterval(time.Hour), breaker.WithRand(func() float64 { return 0 }))
				require.NoError(t, err)
				body := &trackedBody{Reader: strings.NewReader("{}")}
				tc.req.Body = body
				for range 20 {
					resp, err := rt.RoundTrip(tc.req)
					assert.Nil(t, resp)
					assert.EqualError(t, err, tc.want)
				}
				assert.True(t, body.closed, "body closed")
				assert.Equal(t, 0, rt.Group().Len(), "breakers made for a caller's mistake: %v", rt.Group().Names())
				rt.CloseIdleConnections()
			}
		})
	}
}

// TestTransportKeysByNormalisedHost: one breaker per host, whatever the
// case of its name and whether its default port is written.
func TestTransportKeysByNormalisedHost(t *testing.T) {
	stub := &stubTransport{}
	stub.status.Store(200)
	rt, err := breaker.NewTransport(stub)
	require.NoError(t, err)
	for _, u := range []string{
		"http://localhost:9200/", "http://LOCALHOST:9200/", "http://LocalHost:9200/x",
		"http://es/", "http://es:80/", "http://ES:/",
		"https://es/", "https://es:443/",
		"http://[::1]/", "http://[::1]:80/",
	} {
		_, err := get(t, rt, u)
		require.NoError(t, err, u)
	}
	assert.ElementsMatch(t, []string{"localhost:9200", "es:80", "es:443", "[::1]:80"}, rt.Group().Names())
	assert.Equal(t, int64(3), rt.Group().Get("localhost:9200").Stats().Requests)
	assert.Equal(t, int64(3), rt.Group().Get("es:80").Stats().Requests)

	// Normalising a host costs nothing once it has been seen.
	req, err := http.NewRequest(http.MethodGet, "http://ES-1/", nil)
	require.NoError(t, err)
	base := testing.AllocsPerRun(100, func() { _, _ = stub.RoundTrip(req) })
	got := testing.AllocsPerRun(100, func() { _, _ = rt.RoundTrip(req) })
	assert.Equal(t, base, got, "allocations of RoundTrip beyond the base's")
}
