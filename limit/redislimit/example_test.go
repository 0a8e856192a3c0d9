package redislimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/levee-go/levee/limit"
	"github.com/levee-go/levee/limit/redislimit"
	"github.com/redis/go-redis/v9"
)

// A fleet-wide HTTP limit: 100 requests per second per client address,
// bursts of 20, shared by the 8 instances of a service through Redis
// (single node, Sentinel or Cluster). While Redis is unreachable each
// instance allows 1/8 of it on its own.
func ExampleNewTokenBucket_http() {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{"localhost:6379"},
		ContextTimeoutEnabled: true, // so a stalled Redis cannot hold a request
	})
	defer rdb.Close()

	rl, err := redislimit.NewTokenBucket(rdb, 100, 20, redislimit.WithInstances(8))
	if err != nil {
		panic(err)
	}
	defer rl.Close()
	mw, err := limit.NewMiddleware(rl)
	if err != nil {
		panic(err)
	}
	handler := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("RateLimit-Policy"))
	// Output: 200 "default";q=100;w=1
}

// While Redis is unreachable, the limiter decides by its fallback: here a
// local bucket with this instance's share (1/4) of the global limit. The
// first failed call switches it; later calls do not try Redis until the
// background probe reaches it again.
func ExampleWithFallback() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}) // nothing there
	defer rdb.Close()

	rl, err := redislimit.NewTokenBucket(rdb, 1, 8,
		redislimit.WithInstances(4), redislimit.WithFallback(redislimit.FallbackLocal),
		redislimit.WithEventHook(func(e redislimit.Event) { fmt.Println("switched to", e.Mode) }))
	if err != nil {
		panic(err)
	}
	defer rl.Close()

	for i := 0; i < 3; i++ {
		r, err := rl.Allow(context.Background(), "tenant-42")
		fmt.Println(r.Allowed, r.Limit, err)
	}
	st := rl.Stats()
	fmt.Println(st.Mode, st.RoundTrips, st.Fallback)
	// Output:
	// switched to fallback
	// true 8 <nil>
	// true 8 <nil>
	// false 8 <nil>
	// fallback 1 3
}
