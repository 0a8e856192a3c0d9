package redislimit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/levee-go/levee/limit"
	"github.com/levee-go/levee/limit/redislimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// limit's middleware on top of a Redis limiter, unchanged: two instances
// share one client's quota.
func TestMiddlewareFleet(t *testing.T) {
	p := prefix(t)
	var handlers []http.Handler
	for i := 0; i < 2; i++ {
		l, err := redislimit.NewTokenBucket(client(t), 0.5, 3, redislimit.WithPrefix(p), redislimit.WithInstances(2), slowMachine)
		require.NoError(t, err)
		closeLimiter(t, l)
		mw, err := limit.NewMiddleware(l)
		require.NoError(t, err)
		handlers = append(handlers, mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})))
	}
	var codes []int
	var last *httptest.ResponseRecorder
	for i := 0; i < 5; i++ {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = "192.0.2.7:4242"
		handlers[i%2].ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
		last = rec
	}
	// Burst 3 for the fleet, not per instance.
	assert.Equal(t, []int{204, 204, 204, 429, 429}, codes)
	assert.Equal(t, "2", last.Header().Get("Retry-After"))
	assert.NotEmpty(t, last.Header().Get("RateLimit-Policy"))
}
