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

// overloaded returns a shedder that sheds everything but Critical: load at
// 1000‰ and the in-flight count above the bound.
func overloaded(t *testing.T) (*shedding.Shedder, []shedding.Token) {
	t.Helper()
	s, clk, load := newFake(t)
	load.v.Store(1000)
	clk.Advance(100 * time.Millisecond)
	var held []shedding.Token
	for {
		tok, err := s.Allow(shedding.Default)
		if err != nil {
			break
		}
		held = append(held, tok)
		require.Less(t, len(held), 1000)
	}
	// The average forgave the onset's burst; now that the shedder is
	// shedding, hold just above the cold bound of 10.
	for len(held) > 11 {
		held[0].Pass()
		held = held[1:]
	}
	return s, held
}

func TestMiddlewareSheds(t *testing.T) {
	s, held := overloaded(t)
	served := 0
	h := shedding.Middleware(s, shedding.WithRetryAfter(2500*time.Millisecond),
		shedding.WithClassifier(func(r *http.Request) shedding.Priority {
			if r.URL.Path == "/health" {
				return shedding.Critical
			}
			return shedding.Default
		}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/search", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "3", rec.Header().Get("Retry-After"))
	assert.Equal(t, 0, served)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	assert.Equal(t, http.StatusOK, rec.Code, "critical requests pass")
	assert.Equal(t, 1, served)
	for _, tok := range held {
		tok.Pass()
	}
	assert.Equal(t, int64(0), s.Stats().InFlight)
}

func TestMiddlewareOutcomes(t *testing.T) {
	s, clk, _ := newFake(t)
	var status int
	h := shedding.Middleware(s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clk.Advance(10 * time.Millisecond)
		switch status {
		case -1:
			panic(http.ErrAbortHandler)
		case 0:
			_, _ = w.Write([]byte("ok")) // an implicit 200
		default:
			w.WriteHeader(status)
		}
	}))
	for _, st := range []int{0, 200, 404, 500, 503, -1} {
		status = st
		func() {
			defer func() {
				r := recover()
				if st == -1 {
					assert.Equal(t, http.ErrAbortHandler, r, "the panic goes on")
				} else {
					assert.Nil(t, r)
				}
			}()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}()
	}
	assert.Equal(t, int64(0), s.Stats().InFlight, "the panicking request is accounted for")
	clk.Advance(100 * time.Millisecond)
	_, _ = s.Allow(shedding.Default)
	assert.Equal(t, int64(3), s.Stats().MaxPass, "200, 200, 404 pass; 500, 503 and the panic fail")
}

func TestNewMiddlewareRefusesInvalidOptions(t *testing.T) {
	s, _, _ := newFake(t)
	for _, tc := range []struct {
		s    *shedding.Shedder
		opt  shedding.MiddlewareOption
		want string
	}{
		{nil, shedding.WithRetryAfter(time.Second), "shedding: nil Shedder"},
		{s, shedding.WithRetryAfter(time.Millisecond), "shedding: retry-after must be between 1s and 1h0m0s, got 1ms"},
		{s, shedding.WithClassifier(nil), "shedding: nil classifier"},
		{s, shedding.WithFailureStatus(nil), "shedding: nil failure-status function"},
		{s, nil, "shedding: nil MiddlewareOption"},
	} {
		m, err := shedding.NewMiddleware(tc.s, tc.opt)
		assert.Nil(t, m)
		assert.EqualError(t, err, tc.want)
		assert.PanicsWithError(t, tc.want, func() { shedding.Middleware(tc.s, tc.opt) })
	}
}
