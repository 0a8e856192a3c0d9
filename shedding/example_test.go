package shedding_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/levee-go/levee/shedding"
)

func ExampleMiddleware() {
	s, err := shedding.New() // the container's CPU, 900‰ threshold
	if err != nil {
		panic(err) // shedding.ErrNoSignal: no CPU figures here; see WithLoadSource
	}
	defer s.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/search", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hits: 0") })
	handler := shedding.Middleware(s,
		shedding.WithClassifier(func(r *http.Request) shedding.Priority {
			if r.Header.Get("X-Prefetch") != "" {
				return shedding.Sheddable
			}
			return shedding.Default
		}),
	)(mux)

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/search", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 200 hits: 0
}

func ExampleShedder_Allow() {
	// A load source of your own: here a queue's fill level, in permille.
	queued := int64(950)
	s, err := shedding.New(shedding.WithLoadSource(shedding.LoadFunc(func() int64 { return queued })))
	if err != nil {
		panic(err)
	}
	defer s.Close()

	tok, err := s.Allow(shedding.Critical)
	if errors.Is(err, shedding.ErrShed) {
		return // answer "overloaded" at once
	}
	// ... serve the request ...
	tok.Pass() // or tok.Fail() if it failed
	fmt.Println(s.Stats().Source, s.Stats().Load)
	// Output:
	// custom 950
}

func ExampleNew() {
	_, err := shedding.New(shedding.WithThreshold(1200))
	fmt.Println(err)

	s, err := shedding.New(
		shedding.WithSignal(shedding.CPU),
		shedding.WithThreshold(800),
		shedding.WithCoolOff(2*time.Second),
	)
	if errors.Is(err, shedding.ErrNoSignal) {
		fmt.Println("no CPU signal here")
		return
	}
	defer s.Close()
	fmt.Println(s.Stats().Source != "")
	// Output:
	// shedding: threshold must be between 1 and 1000 permille, got 1200
	// true
}

func ExampleWithEventHook() {
	s, err := shedding.New(
		shedding.WithLoadSource(shedding.LoadFunc(func() int64 { return 1000 })), // saturated
		shedding.WithEventHook(func(e shedding.Event) {
			fmt.Println("shedding:", e.Shedding)
		}),
	)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	// Requests pile up in flight until the shedder turns the next away.
	var held []shedding.Token
	for {
		tok, err := s.Allow(shedding.Default)
		if err != nil {
			break
		}
		held = append(held, tok)
	}
	for _, tok := range held {
		tok.Pass()
	}
	st := s.Stats()
	fmt.Println("dropped:", st.Dropped[shedding.Default.Index()])
	// Output:
	// shedding: true
	// dropped: 1
}
