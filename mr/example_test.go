package mr_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/levee-go/levee/mr"
)

// Sum the lengths of the words that are not stop words, with four workers.
func ExampleMapReduce() {
	words := []string{"the", "levee", "holds", "the", "flood"}
	total, err := mr.MapReduce(context.Background(),
		func(ctx context.Context, items *mr.Sink[string]) error {
			for _, w := range words {
				if err := items.Send(w); err != nil {
					return err // the call has ended
				}
			}
			return nil
		},
		func(ctx context.Context, w string) (int, bool, error) {
			if w == "the" {
				return 0, false, nil // filtered out
			}
			return len(w), true, nil
		},
		func(ctx context.Context, lengths *mr.Pipe[int]) (int, error) {
			sum := 0
			for n, ok := lengths.Next(); ok; n, ok = lengths.Next() {
				sum += n
			}
			return sum, nil
		},
		mr.WithWorkers(4))
	fmt.Println(total, err)
	// Output: 15 <nil>
}

// The first error ends the call and is returned; the other functions see
// their context cancelled with it as the cause.
func ExampleMapReduce_error() {
	errNotFound := errors.New("user not found")
	_, err := mr.MapReduce(context.Background(),
		func(ctx context.Context, ids *mr.Sink[int]) error {
			for id := 1; id <= 100; id++ {
				if err := ids.Send(id); err != nil {
					return err
				}
			}
			return nil
		},
		func(ctx context.Context, id int) (string, bool, error) {
			if id == 42 {
				return "", false, fmt.Errorf("load %d: %w", id, errNotFound)
			}
			return fmt.Sprint("user", id), true, nil
		},
		func(ctx context.Context, names *mr.Pipe[string]) ([]string, error) {
			var all []string
			for n, ok := names.Next(); ok; n, ok = names.Next() {
				all = append(all, n)
			}
			return all, nil
		})
	fmt.Println(err, errors.Is(err, errNotFound))
	// Output: load 42: user not found true
}

// A panic in a mapper is re-raised in the caller's goroutine as a
// *mr.PanicError carrying the original value and stack.
func ExamplePanicError() {
	defer func() {
		pe := recover().(*mr.PanicError)
		fmt.Println(pe.Value, strings.Contains(string(pe.Stack), "goroutine"))
	}()
	_ = mr.ForEach(context.Background(),
		func(ctx context.Context, items *mr.Sink[int]) error { return items.Send(0) },
		func(ctx context.Context, i int) error {
			panic(fmt.Sprintf("mapper %d: disk on fire", i))
		})
	// Output: mapper 0: disk on fire true
}

func ExampleForEach() {
	var mu sync.Mutex
	var seen []string
	err := mr.ForEach(context.Background(),
		func(ctx context.Context, hosts *mr.Sink[string]) error {
			for _, h := range []string{"es-1", "es-2", "es-3"} {
				if err := hosts.Send(h); err != nil {
					return err
				}
			}
			return nil
		},
		func(ctx context.Context, host string) error {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, "pinged "+host)
			return nil
		},
		mr.WithWorkers(2))
	sort.Strings(seen)
	fmt.Println(strings.Join(seen, ", "), err)
	// Output: pinged es-1, pinged es-2, pinged es-3 <nil>
}

func ExampleFinish() {
	var user, orders string
	err := mr.Finish(context.Background(),
		func(ctx context.Context) error {
			user = "ada" // say, a call to the user service
			return nil
		},
		func(ctx context.Context) error {
			orders = "3 orders" // and one to the order service, concurrently
			return nil
		})
	fmt.Println(user, orders, err)
	// Output: ada 3 orders <nil>
}

func ExampleFinishVoid() {
	var a, b int
	mr.FinishVoid(func() { a = 1 }, func() { b = 2 })
	fmt.Println(a + b)
	// Output: 3
}
