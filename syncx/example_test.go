package syncx_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/levee-go/levee/syncx"
)

func ExampleSingleFlight() {
	var g syncx.SingleFlight[string, string]
	loads := 0
	load := func() (string, error) {
		loads++ // runs once however many callers ask at the same time
		return "profile of user 42", nil
	}

	v, shared, err := g.Do("user:42", load)
	fmt.Println(v, shared, err, loads)
	// Output: profile of user 42 false <nil> 1
}

func ExampleSingleFlight_DoContext() {
	var g syncx.SingleFlight[string, int]
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	// This caller gives up when its ctx ends; the call would go on for any
	// other caller still waiting.
	v, _, err := g.DoContext(ctx, "answer", func(ctx context.Context) (int, error) {
		return 42, nil
	})
	fmt.Println(v, err)
	// Output: 42 <nil>
}

func ExampleSingleFlight_panic() {
	var g syncx.SingleFlight[string, int]
	defer func() {
		pe := recover().(*syncx.PanicError)
		fmt.Println("recovered:", pe.Value)
	}()
	g.Do("k", func() (int, error) { panic("bad input") })
	// Output: recovered: bad input
}

func ExampleLimit() {
	// A bulkhead: at most 2 calls to the search cluster at once.
	bulkhead, err := syncx.NewLimit(2)
	if err != nil {
		panic(err)
	}
	search := func(q string) error {
		if !bulkhead.TryAcquire() {
			return errors.New("search: too busy")
		}
		defer bulkhead.Release()
		return nil
	}

	fmt.Println(search("levee"))
	bulkhead.TryAcquire()
	bulkhead.TryAcquire() // two long calls hold both permits
	fmt.Println(search("levee"), bulkhead.InUse(), bulkhead.Cap())

	// Acquire waits for a permit, or for ctx to end.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fmt.Println(bulkhead.Acquire(ctx), bulkhead.InUse())
	// Output:
	// <nil>
	// search: too busy 2 2
	// context canceled 2
}

// store stands for a remote key-value store: each operation is atomic on
// its own, a read followed by a write is not.
type store struct {
	mu sync.Mutex
	m  map[string]int
}

func (s *store) Get(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k]
}

func (s *store) Set(k string, v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = v
}

func ExampleLockedCalls() {
	balances := &store{m: map[string]int{"alice": 100}}
	var accounts syncx.LockedCalls[string, int]

	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Read-modify-write calls on one account never interleave;
			// calls on other accounts run in parallel.
			accounts.Do("alice", func() (int, error) {
				b := balances.Get("alice") - 10
				balances.Set("alice", b)
				return b, nil
			})
		}()
	}
	wg.Wait()
	fmt.Println(balances.Get("alice"))
	// Output: 0
}

type client struct{ dsn string }

func (c *client) Close() error {
	fmt.Println("closed", c.dsn)
	return nil
}

func ExampleResourceManager() {
	var clients syncx.ResourceManager[string, *client]
	dial := func(dsn string) func() (*client, error) {
		return func() (*client, error) { return &client{dsn: dsn}, nil }
	}

	a, _ := clients.Get("db-a", dial("db-a"))
	again, _ := clients.Get("db-a", dial("db-a")) // the same client
	fmt.Println(a == again)

	fmt.Println(clients.Close())
	_, err := clients.Get("db-a", dial("db-a"))
	fmt.Println(err)
	// Output:
	// true
	// closed db-a
	// <nil>
	// syncx: resource manager closed
}

func ExampleLazy() {
	attempts := 0
	cfg, err := syncx.NewLazy(func() (string, error) {
		attempts++
		if attempts == 1 {
			return "", errors.New("config server unreachable")
		}
		return "timeout=2s", nil
	}, syncx.WithRetryInterval(0))
	if err != nil {
		panic(err)
	}

	for i := 0; i < 3; i++ {
		// A failure is kept only for the retry interval (here none); a
		// value is kept for good.
		v, err := cfg.Get()
		fmt.Printf("%q %v\n", v, err)
	}
	fmt.Println("attempts:", attempts)
	// Output:
	// "" config server unreachable
	// "timeout=2s" <nil>
	// "timeout=2s" <nil>
	// attempts: 2
}
