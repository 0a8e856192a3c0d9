package limit_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/levee-go/levee/limit"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// stopped is a clock stuck at one time: the examples pass times to AllowN
// themselves.
type stopped time.Time

func (s stopped) Now() time.Time { return time.Time(s) }

func ExampleNewTokenBucket() {
	b, err := limit.NewTokenBucket(100, 10, limit.WithClock(stopped(start))) // 100 per second, bursts of 10
	if err != nil {
		log.Fatal(err)
	}
	// AllowN takes the time, so behaviour over time needs no sleeping:
	// hammered every millisecond for 10 seconds, it admits the burst plus
	// 100 a second.
	admitted := 0
	for ms := 0; ms <= 10_000; ms++ {
		for {
			r, _ := b.AllowN(start.Add(time.Duration(ms)*time.Millisecond), 1)
			if !r.Allowed {
				break
			}
			admitted++
		}
	}
	fmt.Println(admitted, b.Allow()) // Allow reads the clock

	_, err = limit.NewTokenBucket(0, 10)
	fmt.Println(err)
	// Output:
	// 1010 false
	// limit: rate must be a positive finite number of tokens per second, got 0
}

func ExampleTokenBucket_AllowN() {
	b, err := limit.NewTokenBucket(1, 3, limit.WithClock(stopped(start))) // a token a second, bursts of 3
	if err != nil {
		log.Fatal(err)
	}
	r, _ := b.AllowN(start, 3)
	fmt.Println(r.Allowed, r.Remaining, r.ResetAfter)
	r, _ = b.AllowN(start, 2)
	fmt.Println(r.Allowed, r.Remaining, r.RetryAfter, r.Status())
	_, err = b.AllowN(start, 4)
	fmt.Println(errors.Is(err, limit.ErrInvalidCost))
	// Output:
	// true 0 3s
	// false 0 2s over quota
	// true
}

func ExampleTokenBucket_Wait() {
	b, err := limit.NewTokenBucket(1, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Wait(context.Background())) // the burst: at once

	// The next token is a second away: a 100ms deadline fails at once,
	// taking nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	fmt.Println(b.Wait(ctx))
	// Output:
	// <nil>
	// limit: the wait would outlast the context deadline
}

func ExampleNewFixedWindow() {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		fmt.Println("true 2 hit quota over quota 5h0m0s") // no time zone database here
		return
	}
	// 3 per calendar day, days starting at midnight in Paris.
	w, err := limit.NewFixedWindow(3, 24*time.Hour, limit.WithCalendar(paris))
	if err != nil {
		log.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 19, 0, 0, 0, paris)
	r, _ := w.AllowN(at, 1)
	fmt.Print(r.Allowed, " ", r.Remaining, " ")
	r, _ = w.AllowN(at, 2)
	fmt.Print(r.Status(), " ")
	r, _ = w.AllowN(at, 1)
	fmt.Println(r.Status(), r.RetryAfter) // until midnight
	// Output:
	// true 2 hit quota over quota 5h0m0s
}

func ExampleNewSlidingWindow() {
	// Never more than 10 in any minute, counted in slots of 6s.
	w, err := limit.NewSlidingWindow(10, time.Minute, limit.WithClock(stopped(start)))
	if err != nil {
		log.Fatal(err)
	}
	r, _ := w.AllowN(start.Add(50*time.Second), 10)
	fmt.Println(r.Allowed)
	// A fixed window of a minute would start afresh at 1:00; the sliding
	// one waits until the slot of the ten (48s to 54s) has left the last
	// minute: at 1:54.
	r, _ = w.AllowN(start.Add(61*time.Second), 1)
	fmt.Println(r.Allowed, r.RetryAfter)
	// Output:
	// true
	// false 53s
}

func ExampleNewKeyed() {
	bucket, err := limit.NewTokenBucket(1, 2) // per user: a request a second, bursts of 2
	if err != nil {
		log.Fatal(err)
	}
	perUser, err := limit.NewKeyed(bucket, limit.WithMaxKeys(100_000))
	if err != nil {
		log.Fatal(err)
	}
	for _, user := range []string{"ann", "ann", "ann", "bob"} {
		r, _ := perUser.AllowAt(start, user, 1)
		fmt.Println(user, r.Allowed)
	}
	fmt.Println(perUser.Len())
	// Output:
	// ann true
	// ann true
	// ann false
	// bob true
	// 2
}

func ExampleMiddleware() {
	bucket, err1 := limit.NewTokenBucket(10, 20) // per client: 10 requests/s, bursts of 20
	perIP, err2 := limit.NewKeyed(bucket)
	mw, err3 := limit.NewMiddleware(perIP, limit.WithTrustedProxies("10.0.0.0/8")) // the load balancers
	if err := errors.Join(err1, err2, err3); err != nil {
		log.Fatal(err)
	}
	handler := mw.Wrap(api) // http.ListenAndServe(":8080", handler)

	// A request through a load balancer: the key is the client it saw.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.7:41000"
	r.Header.Set("X-Forwarded-For", "1.1.1.1, 203.0.113.9") // "1.1.1.1" was the client's own forgery
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	fmt.Println(w.Code, mw.ClientIP(r))
	fmt.Println(w.Header().Get("RateLimit-Policy"))
	fmt.Println(w.Header().Get("RateLimit"))
	// Output:
	// 200 203.0.113.9
	// "default";q=20;w=2
	// "default";r=19;t=1
}

var api = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello") })

// Example_perClient limits each client of a server behind load balancers.
func Example_perClient() {
	bucket, err1 := limit.NewTokenBucket(10, 20) // per client address: 10 requests/s, bursts of 20
	perIP, err2 := limit.NewKeyed(bucket)
	mw, err3 := limit.NewMiddleware(perIP, limit.WithTrustedProxies("10.0.0.0/8")) // the load balancers
	if err := errors.Join(err1, err2, err3); err != nil {
		log.Fatal(err)
	}
	handler := mw.Wrap(api) // http.ListenAndServe(":8080", handler)
	fmt.Println(get(handler, "10.0.0.7:41000", "203.0.113.9"))
	// Output: 200 "default";r=19;t=1
}

// get sends handler a request from peer, forwarded for client, and returns
// the status and the RateLimit header.
func get(handler http.Handler, peer, client string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = peer
	r.Header.Set("X-Forwarded-For", client)
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	return fmt.Sprint(w.Code, " ", w.Header().Get("RateLimit"))
}
