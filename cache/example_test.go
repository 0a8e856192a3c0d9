package cache_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/levee-go/levee/cache"
)

// lookupUser stands for a slow call to a database or a search cluster.
func lookupUser(_ context.Context, id int) (string, error) {
	if id > 100 {
		return "", fmt.Errorf("user %d: %w", id, cache.ErrNotFound)
	}
	return fmt.Sprintf("user-%d", id), nil
}

// A cache in front of a slow lookup: concurrent misses of a key share one
// load, a key that does not exist is remembered as missing, and entries
// expire after about five minutes.
func Example() {
	users, err := cache.New[int, string](10_000, cache.WithTTL(5*time.Minute))
	if err != nil {
		panic(err)
	}
	defer users.Close()

	ctx := context.Background()
	name, err := users.Take(ctx, 7, func(ctx context.Context) (string, error) {
		return lookupUser(ctx, 7)
	})
	fmt.Println(name, err)
	_, err = users.Take(ctx, 999, func(ctx context.Context) (string, error) {
		return lookupUser(ctx, 999)
	})
	fmt.Println(errors.Is(err, cache.ErrNotFound))
	// Output:
	// user-7 <nil>
	// true
}

// Serving stale: when the source fails after an entry expired, TakeResult
// returns the old value, within the grace period, and says so.
func ExampleCache_TakeResult() {
	clock := newFakeClock()
	c, err := cache.New[string, int](100,
		cache.WithTTL(time.Minute), cache.WithStaleGrace(time.Hour), cache.WithClock(clock))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	c.Set("price", 42)
	clock.Advance(2 * time.Minute) // expired
	r, err := c.TakeResult(context.Background(), "price", func(context.Context) (int, error) {
		return 0, errors.New("pricing service down")
	})
	fmt.Println(r.Value, r.Source, r.Stale(), err)
	// Output: 42 stale true <nil>
}

// TakeMany loads the missing keys in one batch call.
func ExampleCache_TakeMany() {
	c, err := cache.New[int, string](100)
	if err != nil {
		panic(err)
	}
	defer c.Close()

	c.Set(1, "one")
	got, err := c.TakeMany(context.Background(), []int{1, 2, 3}, func(_ context.Context, missing []int) (map[int]string, error) {
		fmt.Println("loading", missing)
		return map[int]string{2: "two"}, nil // 3 does not exist
	})
	fmt.Println(len(got), got[1], got[2], err)
	// Output:
	// loading [2 3]
	// 2 one two <nil>
}

func ExampleCache_Stats() {
	c, err := cache.New[string, int](100)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Set("a", 1)
	c.Get("a")
	c.Get("b")
	st := c.Stats()
	fmt.Println(st.Hits, st.Misses, st.Entries)
	// Output: 1 1 1
}
