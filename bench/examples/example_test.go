package examples_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/levee-go/levee/breaker"
	"github.com/levee-go/levee/collection"
	"github.com/levee-go/levee/mr"
	"github.com/levee-go/levee/syncx"
)

// An adaptive breaker per Elasticsearch node, in the client's own transport.
func Example_elasticsearchBreaker() {
	node := newSearchNode()
	defer node.Close()

	// The two parts elasticsearch.NewClient is made of; with NewClient, set
	// the same Transport and RetryOnError in elasticsearch.Config.
	u, _ := url.Parse(node.URL)
	tp, err := elastictransport.New(elastictransport.Config{
		URLs:      []*url.URL{u},
		Transport: breaker.Transport(http.DefaultTransport), // one breaker per host
		RetryOnError: func(_ *http.Request, err error) bool {
			return !errors.Is(err, breaker.ErrServiceUnavailable) // a rejection fails fast
		},
	})
	if err != nil {
		panic(err)
	}
	es := esapi.New(tp)
	res, err := es.Search(es.Search.WithIndex("products"), es.Search.WithBody(strings.NewReader(`{"query":{"match_all":{}}}`)))
	if err != nil {
		// errors.Is(err, breaker.ErrServiceUnavailable): rejected without touching the network
		panic(err)
	}
	defer res.Body.Close()
	fmt.Println(res.StatusCode)
	// Output: 200
}

// A breaker around any call.
func Example_breakerDo() {
	b, err := breaker.New() // K 1.5, 10 s window in 40 buckets, protection 5
	if err != nil {
		panic(err)
	}
	err = b.Do(context.Background(), func(ctx context.Context) error {
		return nil // the call to the dependency
	})
	fmt.Println(err)
	// Output: <nil>
}

// Collapse duplicate calls and bound concurrency towards a dependency.
func Example_syncx() {
	ctx := context.Background()
	id := "42"
	var users syncx.SingleFlight[string, *User]
	// one query however many requests miss the cache at once; each caller may give up on its own ctx
	u, _, err := users.DoContext(ctx, "user:"+id, func(ctx context.Context) (*User, error) {
		return db.LoadUser(ctx, id)
	})
	if err != nil {
		panic(err)
	}

	bulkhead, _ := syncx.NewLimit(32) // at most 32 calls in flight
	if err := bulkhead.Acquire(ctx); err != nil {
		panic(err) // ctx ended while waiting; no permit taken
	}
	defer bulkhead.Release()
	fmt.Println(u.Name)
	// Output: Ada
}

// Fan a request out to many backends and gather the answers.
func Example_mapReduce() {
	ctx := context.Background()
	userIDs := []int{1, 2, 3}
	total, err := mr.MapReduce(ctx,
		func(ctx context.Context, ids *mr.Sink[int]) error { // generate
			for _, id := range userIDs {
				if err := ids.Send(id); err != nil {
					return err // the call has ended
				}
			}
			return nil
		},
		func(ctx context.Context, id int) (int, bool, error) { return score(ctx, id) }, // map; keep=false filters
		func(ctx context.Context, scores *mr.Pipe[int]) (int, error) { // reduce
			sum := 0
			for s, ok := scores.Next(); ok; s, ok = scores.Next() {
				sum += s
			}
			return sum, nil
		}, mr.WithWorkers(16))
	fmt.Println(total, err)
	// Output: 60 <nil>
}

// The counters and timers the other modules are built from.
func Example_collection() {
	w, _ := collection.NewRollingWindow(40, 250*time.Millisecond) // the last 10 s, lock-free, 0 allocs
	w.Add(0.120)                                                  // a latency in seconds
	sum, count := w.Sum()
	fmt.Println(sum, count)

	tw, _ := collection.NewTimingWheel(time.Second, 64, func(id string, conn interface{ Close() error }) {
		_ = conn.Close()
	})
	defer tw.Stop() // waits for its goroutine and running callbacks
	// Output: 0.12 1
}
