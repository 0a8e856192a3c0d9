package shedding_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/levee-go/levee/shedding"
)

// A limiter in front of a call to a dependency: Do acquires a permit, runs
// the call and reports its latency; when the limit is full the call is not
// made at all.
func ExampleLimiter() {
	l, err := shedding.NewLimiter(shedding.WithInitialLimit(50), shedding.WithMaxLimit(500))
	if err != nil {
		panic(err)
	}
	err = l.Do(context.Background(), func(ctx context.Context) error {
		return nil // call the dependency with ctx
	})
	fmt.Println(err, l.Limit())
	// Output: <nil> 50
}

// Acquire and Done for a call that does not fit in a function; a rejection
// matches ErrLimited.
func ExampleLimiter_TryAcquire() {
	l, _ := shedding.NewLimiter(shedding.WithMinLimit(1), shedding.WithInitialLimit(1), shedding.WithLimiterName("search"))
	p, err := l.TryAcquire()
	fmt.Println(err)
	_, err = l.TryAcquire() // the one slot is taken
	fmt.Println(errors.Is(err, shedding.ErrLimited), err)
	p.Done(nil) // the call succeeded: its latency is a sample
	// Output:
	// <nil>
	// true shedding: search: concurrency limit reached
}

// The limiter in a server, in front of its own handlers: requests beyond
// the limit are answered 503 with Retry-After.
func ExampleLimiterMiddleware() {
	l, _ := shedding.NewLimiter()
	mux := http.NewServeMux()
	mux.HandleFunc("/search", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hits") })
	srv := httptest.NewServer(shedding.LimiterMiddleware(l)(mux))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/search")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 200
}

// The client side: one adaptive limit per host in front of an HTTP client,
// such as the Elasticsearch client's Config.Transport. A rejected request
// never reaches the network.
func ExampleTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()

	client := &http.Client{Transport: shedding.Transport(http.DefaultTransport, shedding.WithMaxLimit(200))}
	resp, err := client.Get(srv.URL)
	if err != nil {
		panic(err) // errors.Is(err, shedding.ErrLimited) when the host's limit is full
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 ok
}
