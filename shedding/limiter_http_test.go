package shedding_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/shedding"
)

func TestLimiterMiddleware(t *testing.T) {
	l := newTestLimiter(t, newFakeClock(), shedding.WithMinLimit(1), shedding.WithInitialLimit(2))
	entered := make(chan struct{})
	release := make(chan struct{})
	h := shedding.LimiterMiddleware(l, shedding.WithRetryAfter(2500*time.Millisecond), shedding.WithClassifier(func(r *http.Request) shedding.Priority {
		if r.URL.Path == "/health" {
			return shedding.Critical
		}
		return shedding.Default
	}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			entered <- struct{}{}
			<-release
		case "/busy":
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case "/panic":
			panic(http.ErrAbortHandler)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	serve := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	done := make(chan int, 2)
	for range 2 {
		go func() { done <- serve("/slow").Code }()
		<-entered
	}
	// Both slots are taken: the next request is answered 503 with a
	// Retry-After and never reaches the handler; a critical one passes.
	rec := serve("/")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "3", rec.Header().Get("Retry-After"))
	assert.Equal(t, http.StatusNoContent, serve("/health").Code)
	close(release)
	assert.Equal(t, http.StatusNoContent, <-done)
	assert.Equal(t, http.StatusNoContent, <-done)

	// A 503 of the handler is an overload signal; a panic releases the
	// permit and goes on.
	assert.Equal(t, http.StatusServiceUnavailable, serve("/busy").Code)
	assert.Equal(t, int64(1), l.Stats().Drops)
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() { serve("/panic") })
	assert.Equal(t, 0, l.Stats().InFlight)

	_, err := shedding.NewLimiterMiddleware(nil, shedding.WithRetryAfter(0))
	require.Error(t, err)
	assert.ErrorContains(t, err, "nil Limiter")
	assert.ErrorContains(t, err, "retry-after must be between 1s and 1h0m0s, got 0s")
	assert.Panics(t, func() { shedding.LimiterMiddleware(l, nil) })
}
