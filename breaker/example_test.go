package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/levee-go/levee/breaker"
)

func ExampleNew() {
	b, err := breaker.New(breaker.WithK(2), breaker.WithWindow(5*time.Second))
	fmt.Println(b != nil, err)

	_, err = breaker.New(breaker.WithK(0.5))
	fmt.Println(err)
	// Output:
	// true <nil>
	// breaker: K must be a finite number of at least 1, got 0.5
}

func ExampleBreaker_Do() {
	b, err := breaker.New()
	if err != nil {
		panic(err)
	}
	err = b.Do(context.Background(), func(ctx context.Context) error {
		return nil // call the dependency with ctx here
	})
	fmt.Println(err)

	// A dependency that keeps failing gets throttled.
	down := errors.New("connection refused")
	rejected := 0
	for range 100 {
		err := b.Do(context.Background(), func(context.Context) error { return down })
		if errors.Is(err, breaker.ErrServiceUnavailable) {
			rejected++
		}
	}
	fmt.Println("throttled:", rejected > 0)
	// Output:
	// <nil>
	// throttled: true
}

func ExampleBreaker_DoWithFallback() {
	b, err := breaker.New(breaker.WithRand(func() float64 { return 0 }))
	if err != nil {
		panic(err)
	}
	search := func(context.Context) error { return errors.New("503 service unavailable") }
	fromCache := func(_ context.Context, err error) error {
		fmt.Println("served from cache:", err)
		return nil
	}
	for range 7 {
		_ = b.DoWithFallback(context.Background(), search, fromCache)
	}
	// Output:
	// served from cache: breaker: service unavailable
}

func ExampleBreaker_Allow() {
	b, err := breaker.New()
	if err != nil {
		panic(err)
	}
	// For code that cannot be wrapped in a function, such as a callback
	// API: ask first, report the outcome later.
	p, err := b.Allow()
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	var callErr error // the outcome of the call made here
	p.Done(callErr)   // or p.Accept() / p.Reject()
	fmt.Printf("%+v\n", b.Stats())
	// Output:
	// {Calls:1 Requests:1 Accepts:1 Rejections:0 Probability:0 Throttling:false}
}

func ExampleWithAcceptable() {
	errNotFound := errors.New("404 document not found")
	b, err := breaker.New(breaker.WithAcceptable(func(err error) bool {
		return errors.Is(err, errNotFound) // an answer, not a failure
	}))
	if err != nil {
		panic(err)
	}
	for range 100 {
		_ = b.Do(context.Background(), func(context.Context) error { return errNotFound })
	}
	st := b.Stats()
	fmt.Println(st.Requests, st.Accepts, st.Rejections)
	// Output: 100 100 0
}

func ExampleGroup() {
	g, err := breaker.NewGroup(breaker.WithMaxBreakers(100), breaker.WithIdleTimeout(time.Hour))
	if err != nil {
		panic(err)
	}
	// One breaker per index: a failing index does not throttle the others.
	err = g.Do(context.Background(), "logs-2026.01", func(ctx context.Context) error {
		return nil
	})
	fmt.Println(err, g.Len())
	// Output: <nil> 1
}

func ExampleTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		_, _ = io.WriteString(w, `{"tagline":"You Know, for Search"}`)
	}))
	defer srv.Close()

	// With the Elasticsearch client:
	//   es, err := elasticsearch.NewClient(elasticsearch.Config{
	//       Transport: breaker.Transport(http.DefaultTransport),
	//   })
	client := &http.Client{Transport: breaker.Transport(http.DefaultTransport)}
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	client.CloseIdleConnections()
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 {"tagline":"You Know, for Search"}
}

func ExampleWithEventHook() {
	clk := newFakeClock() // a manual clock, so that the example is exact
	hook := func(e breaker.Event) {
		fmt.Printf("%s throttling=%v at %s\n", e.Name, e.Throttling, e.Time.Format("15:04:05.000"))
	}
	b, err := breaker.New(breaker.WithName("es"), breaker.WithEventHook(hook), breaker.WithClock(clk),
		breaker.WithRand(rand.New(rand.NewPCG(1, 1)).Float64))
	if err != nil {
		panic(err)
	}
	down := errors.New("503")
	for _, outcome := range []error{nil, down, nil} { // 10 s healthy, 10 s down, 10 s healthy
		for range 10_000 {
			clk.Advance(time.Millisecond)
			_ = b.Do(context.Background(), func(context.Context) error { return outcome })
		}
	}
	// Output:
	// es throttling=true at 00:00:13.500
	// es throttling=false at 00:00:21.500
}

// A RoundTripper keeps one breaker per host: a host that answers 503 is
// throttled after a few failures, and rejected requests never reach it.
func ExampleNewTransport() {
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	rt, err := breaker.NewTransport(http.DefaultTransport,
		breaker.WithMaxBreakers(100),                  // hosts kept, least recently used evicted
		breaker.WithRand(func() float64 { return 0 })) // for an exact output only
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: rt}
	rejected := 0
	for range 20 {
		resp, err := client.Get(srv.URL)
		if errors.Is(err, breaker.ErrServiceUnavailable) {
			rejected++
			continue
		}
		if err != nil {
			panic(err)
		}
		_ = resp.Body.Close()
	}
	client.CloseIdleConnections()
	fmt.Println("reached the host:", reached.Load(), "rejected locally:", rejected, "breakers:", rt.Group().Len())
	// Output: reached the host: 6 rejected locally: 14 breakers: 1
}
