package mr_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/levee-go/levee/mr"
)

func TestMapReduceSum(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 16, 64} {
		for _, n := range []int{0, 1, 2, 17, 1000, 20000} {
			t.Run(fmt.Sprintf("workers=%d/items=%d", workers, n), func(t *testing.T) {
				got, err := mr.MapReduce(context.Background(), upTo(n), square, sum, mr.WithWorkers(workers))
				require.NoError(t, err)
				assert.Equal(t, sumOfSquares(n), got)
			})
		}
	}
}

func TestMapReduceDefaultWorkers(t *testing.T) {
	got, err := mr.MapReduce(context.Background(), upTo(100), square, sum)
	require.NoError(t, err)
	assert.Equal(t, sumOfSquares(100), got)
}

// Every item reaches the mapper exactly once and every kept result reaches
// the reducer exactly once, whatever the order the workers run in.
func TestMapReduceOrderIndependent(t *testing.T) {
	const n = 5000
	want := make([]int, n)
	for i := range want {
		want[i] = i * 3
	}
	for _, workers := range []int{1, 4, 16} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			got, err := mr.MapReduce(context.Background(), upTo(n),
				func(_ context.Context, i int) (int, bool, error) { return i * 3, true, nil },
				func(_ context.Context, p *mr.Pipe[int]) ([]int, error) {
					var all []int
					for v, ok := p.Next(); ok; v, ok = p.Next() {
						all = append(all, v)
					}
					return all, nil
				}, mr.WithWorkers(workers))
			require.NoError(t, err)
			sort.Ints(got)
			assert.Equal(t, want, got)
		})
	}
}

func TestMapReduceFilter(t *testing.T) {
	got, err := mr.MapReduce(context.Background(), upTo(100),
		func(_ context.Context, i int) (int, bool, error) { return i, i%2 == 0, nil },
		sum, mr.WithWorkers(4))
	require.NoError(t, err)
	assert.Equal(t, 2450, got) // 0 + 2 + ... + 98
}

// A mapper that keeps nothing leaves the reducer an empty pipe; nothing
// hangs and the reducer decides the result.
func TestMapReduceMapperKeepsNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	var mapped atomic.Int64
	seen := -1
	got, err := mr.MapReduce(context.Background(), upTo(1000),
		func(_ context.Context, i int) (string, bool, error) {
			mapped.Add(1)
			return "ignored", false, nil
		},
		func(_ context.Context, p *mr.Pipe[string]) (string, error) {
			seen = 0
			for _, ok := p.Next(); ok; _, ok = p.Next() {
				seen++
			}
			if seen == 0 {
				return "", errors.New("no results")
			}
			return "some", nil
		}, mr.WithWorkers(8))
	assert.EqualError(t, err, "no results")
	assert.Equal(t, "", got)
	assert.Equal(t, 0, seen)
	assert.Equal(t, int64(1000), mapped.Load())
}

func TestMapReduceEmptyGenerator(t *testing.T) {
	got, err := mr.MapReduce(context.Background(), upTo(0), square, sum)
	require.NoError(t, err)
	assert.Equal(t, 0, got)
}

// A reducer may stop early: its value is the result and the rest of the
// work (here an endless generator that honours Send's error) is cancelled.
func TestMapReduceReducerReturnsEarly(t *testing.T) {
	defer goleak.VerifyNone(t)
	var genErr atomic.Value
	got, err := mr.MapReduce(context.Background(),
		func(_ context.Context, s *mr.Sink[int]) error {
			for i := 0; ; i++ {
				if err := s.Send(i); err != nil {
					genErr.Store(err)
					return err
				}
			}
		},
		square,
		func(_ context.Context, p *mr.Pipe[int]) (int, error) {
			v, ok := p.Next()
			if !ok {
				return 0, errors.New("no result")
			}
			return v, nil
		}, mr.WithWorkers(4))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, got, 0)
	// The generator is released with the cancelled context's error.
	require.Eventually(t, func() bool { return genErr.Load() != nil }, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, genErr.Load().(error), context.Canceled)
}

func TestMapReduceErrors(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name     string
		generate func(context.Context, *mr.Sink[int]) error
		mapper   func(context.Context, int) (int, bool, error)
		reducer  func(context.Context, *mr.Pipe[int]) (int, error)
	}{
		{
			name: "generator before sending",
			generate: func(context.Context, *mr.Sink[int]) error {
				return errBoom
			},
			mapper: square, reducer: sum,
		},
		{
			name: "generator after sending",
			generate: func(ctx context.Context, s *mr.Sink[int]) error {
				if err := upTo(500)(ctx, s); err != nil {
					return err
				}
				return errBoom
			},
			mapper: square, reducer: sum,
		},
		{
			name:     "mapper",
			generate: upTo(1000),
			mapper: func(_ context.Context, i int) (int, bool, error) {
				if i == 700 {
					return 0, false, errBoom
				}
				return i, true, nil
			},
			reducer: sum,
		},
		{
			name:     "reducer",
			generate: upTo(1000),
			mapper:   square,
			reducer: func(_ context.Context, p *mr.Pipe[int]) (int, error) {
				for i := 0; i < 10; i++ {
					p.Next()
				}
				return 42, errBoom
			},
		},
		{
			name:     "reducer after the last result",
			generate: upTo(1000),
			mapper:   square,
			reducer: func(ctx context.Context, p *mr.Pipe[int]) (int, error) {
				v, _ := sum(ctx, p)
				return v, errBoom
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			for _, workers := range []int{1, 16} {
				got, err := mr.MapReduce(context.Background(), tt.generate, tt.mapper, tt.reducer, mr.WithWorkers(workers))
				assert.Same(t, errBoom, err, "workers=%d", workers)
				assert.Equal(t, 0, got, "workers=%d: the result of a failed call is the zero value", workers)
			}
		})
	}
}

// The first error ends the call; errors that other functions return because
// of the resulting cancellation are dropped.
func TestMapReduceFirstErrorWins(t *testing.T) {
	defer goleak.VerifyNone(t)
	errFirst := errors.New("first")
	errLate := errors.New("late")
	for round := 0; round < 20; round++ {
		_, err := mr.MapReduce(context.Background(),
			func(ctx context.Context, s *mr.Sink[int]) error {
				for i := 0; ; i++ {
					if s.Send(i) != nil {
						return errLate
					}
				}
			},
			func(ctx context.Context, i int) (int, bool, error) {
				if i == 100 {
					return 0, false, errFirst
				}
				if ctx.Err() != nil {
					return 0, false, errLate
				}
				return i, true, nil
			},
			func(ctx context.Context, p *mr.Pipe[int]) (int, error) {
				for _, ok := p.Next(); ok; _, ok = p.Next() {
				}
				return 0, errLate
			}, mr.WithWorkers(8))
		require.Same(t, errFirst, err, "round %d", round)
	}
}

func TestMapReduceContextCause(t *testing.T) {
	errBoom := errors.New("boom")
	var cause atomic.Value
	_, err := mr.MapReduce(context.Background(), upTo(100),
		func(ctx context.Context, i int) (int, bool, error) {
			if i == 10 {
				return 0, false, errBoom
			}
			return i, true, nil
		},
		func(ctx context.Context, p *mr.Pipe[int]) (int, error) {
			for _, ok := p.Next(); ok; _, ok = p.Next() {
			}
			cause.Store(context.Cause(ctx))
			return 0, nil
		}, mr.WithWorkers(1))
	require.Same(t, errBoom, err)
	require.Eventually(t, func() bool { return cause.Load() != nil }, 5*time.Second, time.Millisecond)
	assert.Same(t, errBoom, cause.Load())
}

func TestMapReducePanics(t *testing.T) {
	type boom struct{ where string }
	for _, where := range []string{"generator", "mapper", "reducer"} {
		t.Run(where, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			value := &boom{where}
			maybe := func(site string) {
				if site == where {
					panic(value)
				}
			}
			r := catch(func() {
				_, _ = mr.MapReduce(context.Background(),
					func(ctx context.Context, s *mr.Sink[int]) error {
						if err := upTo(100)(ctx, s); err != nil {
							return err
						}
						maybe("generator")
						return nil
					},
					func(_ context.Context, i int) (int, bool, error) {
						if i == 50 {
							maybePanicInMapper(maybe)
						}
						return i, true, nil
					},
					func(ctx context.Context, p *mr.Pipe[int]) (int, error) {
						p.Next()
						maybe("reducer")
						return sum(ctx, p)
					}, mr.WithWorkers(4))
			})
			pe, ok := r.(*mr.PanicError)
			require.True(t, ok, "recovered %T %v, want *mr.PanicError", r, r)
			assert.Same(t, value, pe.Value)
			if where == "mapper" {
				// The stack is the panicking goroutine's, not the caller's.
				assert.Contains(t, string(pe.Stack), "maybePanicInMapper")
			}
			assert.Contains(t, pe.Error(), fmt.Sprintf("mr: panic: &{%s}", where))
			assert.Contains(t, pe.Error(), string(pe.Stack))
		})
	}
}

//go:noinline
func maybePanicInMapper(maybe func(string)) { maybe("mapper") }

func TestMapReduceGoexit(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, err := mr.MapReduce(context.Background(), upTo(10),
		func(_ context.Context, i int) (int, bool, error) {
			if i == 5 {
				runtime.Goexit()
			}
			return i, true, nil
		}, sum, mr.WithWorkers(2))
	assert.Same(t, mr.ErrGoexit, err)
}

func TestMapReduceNilPanicValue(t *testing.T) {
	r := catch(func() {
		_, _ = mr.MapReduce(context.Background(), upTo(10),
			func(_ context.Context, i int) (int, bool, error) {
				if i == 5 {
					panic(nil)
				}
				return i, true, nil
			}, sum)
	})
	pe, ok := r.(*mr.PanicError)
	require.True(t, ok, "recovered %T %v", r, r)
	var pne *runtime.PanicNilError
	assert.ErrorAs(t, pe, &pne)
}

func TestPanicErrorUnwrap(t *testing.T) {
	errBoom := errors.New("boom")
	assert.ErrorIs(t, &mr.PanicError{Value: fmt.Errorf("wrapped: %w", errBoom)}, errBoom)
	assert.NoError(t, (&mr.PanicError{Value: "text"}).Unwrap())
	assert.Equal(t, "mr: panic: text\n\ngoroutine stack:\nstack", (&mr.PanicError{Value: "text", Stack: []byte("stack")}).Error())
}

func TestMapReduceCallerCancels(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := mr.MapReduce(ctx, upTo(100000),
		func(_ context.Context, i int) (int, bool, error) {
			if i == 500 {
				cancel()
			}
			return i, true, nil
		}, sum, mr.WithWorkers(4))
	assert.Same(t, context.Canceled, err)
}

// A reducer that consumes everything and returns success at the moment the
// caller's context ends does not pass a partial result off as complete.
func TestMapReduceCallerCancelsBeforeReducerReturns(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := mr.MapReduce(ctx, upTo(100), square,
		func(ctx context.Context, p *mr.Pipe[int]) (int, error) {
			v, err := sum(ctx, p)
			cancel()
			return v, err
		})
	assert.Same(t, context.Canceled, err)
}

func TestMapReduceContextAlreadyDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	_, err := mr.MapReduce(ctx,
		func(context.Context, *mr.Sink[int]) error { called = true; return nil },
		square, sum)
	assert.Same(t, context.Canceled, err)
	assert.False(t, called)
}

// An endless generator that ignores both its context and Send's error does
// not delay the return: MapReduce returns DeadlineExceeded promptly, and
// its goroutines are gone once the generator finally returns.
func TestMapReduceEndlessGeneratorDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, tt := range []struct {
		name   string
		mapper func(release <-chan struct{}) func(context.Context, int) (int, bool, error)
	}{
		// The generator spins on Send, which fails fast after the deadline.
		{"fast mapper", func(<-chan struct{}) func(context.Context, int) (int, bool, error) { return square }},
		// The mappers block, the queue fills and the generator blocks in
		// Send until the deadline releases it.
		{"blocked mapper", func(release <-chan struct{}) func(context.Context, int) (int, bool, error) {
			return func(_ context.Context, i int) (int, bool, error) {
				<-release
				return i, true, nil
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			var sendErrs atomic.Int64
			genDone := make(chan struct{})
			var releaseOnce sync.Once
			releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
			defer func() { releaseAll(); <-genDone }()
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := mr.MapReduce(ctx,
				func(_ context.Context, s *mr.Sink[int]) error {
					defer close(genDone)
					for i := 0; ; i++ {
						select {
						case <-release:
							return nil
						default:
						}
						if s.Send(i) != nil {
							sendErrs.Add(1)
						}
					}
				},
				tt.mapper(release), sum, mr.WithWorkers(4))
			elapsed := time.Since(start)
			assert.Equal(t, context.DeadlineExceeded, err)
			assert.Less(t, elapsed, 3*time.Second, "MapReduce returned %v after a 50ms deadline", elapsed)
			// The generator keeps going, but Send now fails at once.
			require.Eventually(t, func() bool { return sendErrs.Load() > 0 }, 5*time.Second, time.Millisecond,
				"Send reports the end of the call")
			releaseAll()
		})
	}
}

// A generator blocked outside Send (say, reading a network stream) does not
// delay the return either.
func TestMapReduceGeneratorBlockedElsewhere(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := mr.MapReduce(ctx,
		func(_ context.Context, s *mr.Sink[int]) error {
			if err := s.Send(1); err != nil {
				return err
			}
			<-release // ignores ctx
			return s.Send(2)
		}, square, sum)
	elapsed := time.Since(start)
	assert.Equal(t, context.DeadlineExceeded, err)
	assert.Less(t, elapsed, 3*time.Second)
	close(release)
}

func TestMapReduceWorkersBound(t *testing.T) {
	for _, workers := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			defer goleak.VerifyNone(t)
			var running, peak atomic.Int64
			full := make(chan struct{})
			var once sync.Once
			got, err := mr.MapReduce(context.Background(), upTo(200),
				func(_ context.Context, i int) (int, bool, error) {
					now := running.Add(1)
					defer running.Add(-1)
					for {
						p := peak.Load()
						if now <= p || peak.CompareAndSwap(p, now) {
							break
						}
					}
					if now == int64(workers) {
						once.Do(func() { close(full) })
					}
					// Hold the first items until all workers are busy, so
					// that the peak is reached, not just allowed.
					select {
					case <-full:
					case <-time.After(10 * time.Second):
					}
					return i, true, nil
				}, sum, mr.WithWorkers(workers))
			require.NoError(t, err)
			assert.Equal(t, 199*200/2, got)
			assert.Equal(t, int64(workers), peak.Load())
		})
	}
}

// Few items start few goroutines: workers are started on demand.
func TestMapReduceStartsWorkersOnDemand(t *testing.T) {
	var ids sync.Map
	var count atomic.Int64
	_, err := mr.MapReduce(context.Background(), upTo(1),
		func(_ context.Context, i int) (int, bool, error) {
			if _, loaded := ids.LoadOrStore(goroutineID(), true); !loaded {
				count.Add(1)
			}
			return i, true, nil
		}, sum, mr.WithWorkers(16))
	require.NoError(t, err)
	assert.Equal(t, int64(1), count.Load())
}

func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return strings.Fields(string(buf))[1]
}

func TestWithWorkersInvalid(t *testing.T) {
	for _, n := range []int{0, -1, mr.MaxWorkers + 1, math.MaxInt} {
		called := false
		_, err := mr.MapReduce(context.Background(),
			func(context.Context, *mr.Sink[int]) error { called = true; return nil },
			square, sum, mr.WithWorkers(n))
		assert.EqualError(t, err, fmt.Sprintf("mr: workers must be between 1 and 1048576, got %d", n))
		assert.False(t, called)

		err = mr.ForEach(context.Background(), upTo(1),
			func(context.Context, int) error { called = true; return nil }, mr.WithWorkers(n))
		assert.EqualError(t, err, fmt.Sprintf("mr: workers must be between 1 and 1048576, got %d", n))
		assert.False(t, called)
	}
	// The last option wins.
	got, err := mr.MapReduce(context.Background(), upTo(10), square, sum, mr.WithWorkers(0), mr.WithWorkers(2))
	require.NoError(t, err)
	assert.Equal(t, sumOfSquares(10), got)
}

// A huge worker count costs nothing up front: memory does not grow with
// the option's value (WithWorkers(1e6) with 3 items allocated 68 MiB).
func TestWithWorkersHugeAllocatesLittle(t *testing.T) {
	measure := func(fn func()) uint64 {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		fn()
		runtime.ReadMemStats(&m1)
		return m1.TotalAlloc - m0.TotalAlloc
	}
	for _, workers := range []int{1_000_000, mr.MaxWorkers} {
		var got int
		var err error
		bytes := measure(func() {
			got, err = mr.MapReduce(context.Background(), upTo(3), square, sum, mr.WithWorkers(workers))
		})
		require.NoError(t, err)
		assert.Equal(t, sumOfSquares(3), got)
		assert.Less(t, bytes, uint64(256<<10), "MapReduce with %d workers and 3 items allocated %d bytes", workers, bytes)
		t.Logf("MapReduce with %d workers and 3 items: %d bytes", workers, bytes)
		bytes = measure(func() {
			err = mr.ForEach(context.Background(), upTo(3), func(context.Context, int) error { return nil }, mr.WithWorkers(workers))
		})
		require.NoError(t, err)
		assert.Less(t, bytes, uint64(256<<10), "ForEach with %d workers and 3 items allocated %d bytes", workers, bytes)
	}
}

// A burst of items after a lull runs on all the workers, not only on those
// that were parked: with 8 workers, two warm-up items, then 64 items of
// 5 ms each, 8 mappers must run at once (it was 2, ~190 ms instead of ~60).
func TestMapReduceBurstAfterLullUsesAllWorkers(t *testing.T) {
	for _, warm := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("warm=%d", warm), func(t *testing.T) {
			const workers = 8
			var running, peak atomic.Int64
			warmedUp := make(chan struct{})
			var warmDone atomic.Int64
			start := time.Now()
			var burst time.Duration
			err := mr.ForEach(context.Background(),
				func(ctx context.Context, s *mr.Sink[int]) error {
					for i := range warm {
						if err := s.Send(-1 - i); err != nil {
							return err
						}
					}
					<-warmedUp
					time.Sleep(20 * time.Millisecond) // the warm workers park
					start = time.Now()
					for i := range 64 {
						if err := s.Send(i); err != nil {
							return err
						}
					}
					return nil
				},
				func(_ context.Context, i int) error {
					if i < 0 {
						if warmDone.Add(1) == int64(warm) {
							close(warmedUp)
						}
						return nil
					}
					now := running.Add(1)
					defer running.Add(-1)
					for {
						p := peak.Load()
						if now <= p || peak.CompareAndSwap(p, now) {
							break
						}
					}
					time.Sleep(5 * time.Millisecond)
					return nil
				}, mr.WithWorkers(workers))
			burst = time.Since(start)
			require.NoError(t, err)
			assert.Equal(t, int64(workers), peak.Load(), "mappers running at once in the burst")
			t.Logf("peak %d mappers, burst of 64 x 5 ms took %v", peak.Load(), burst)
		})
	}
}

func TestNilFunctionsPanic(t *testing.T) {
	assert.PanicsWithValue(t, "mr: nil generate, mapper or reducer", func() {
		_, _ = mr.MapReduce(context.Background(), upTo(1), nil, sum)
	})
	assert.PanicsWithValue(t, "mr: nil generate, mapper or reducer", func() {
		_ = mr.MapReduceVoid[int, int](context.Background(), upTo(1), square, nil)
	})
	assert.PanicsWithValue(t, "mr: nil generate or fn", func() {
		_ = mr.ForEach(context.Background(), nil, func(context.Context, int) error { return nil })
	})
	assert.PanicsWithValue(t, "mr: nil function given to Finish", func() {
		_ = mr.Finish(context.Background(), nil)
	})
	assert.PanicsWithValue(t, "mr: nil function given to FinishVoid", func() {
		mr.FinishVoid(func() {}, nil)
	})
}

func TestSendAfterGeneratorReturned(t *testing.T) {
	var kept *mr.Sink[int]
	_, err := mr.MapReduce(context.Background(),
		func(_ context.Context, s *mr.Sink[int]) error { kept = s; return s.Send(1) },
		square, sum)
	require.NoError(t, err)
	assert.Error(t, kept.Send(2))
}

// Send is safe for concurrent use by producers the generator waits for.
func TestSinkConcurrentSend(t *testing.T) {
	got, err := mr.MapReduce(context.Background(),
		func(ctx context.Context, s *mr.Sink[int]) error {
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for p := 0; p < 4; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := p; i < 4000; i += 4 {
						if err := s.Send(i); err != nil {
							errs[p] = err
							return
						}
					}
				}()
			}
			wg.Wait()
			return errors.Join(errs...)
		}, square, sum, mr.WithWorkers(3))
	require.NoError(t, err)
	assert.Equal(t, sumOfSquares(4000), got)
}

func TestMapReduceVoid(t *testing.T) {
	var total int
	err := mr.MapReduceVoid(context.Background(), upTo(100), square,
		func(ctx context.Context, p *mr.Pipe[int]) error {
			var err error
			total, err = sum(ctx, p)
			return err
		})
	require.NoError(t, err)
	assert.Equal(t, sumOfSquares(100), total)

	errBoom := errors.New("boom")
	err = mr.MapReduceVoid(context.Background(), upTo(100), square,
		func(context.Context, *mr.Pipe[int]) error { return errBoom })
	assert.Same(t, errBoom, err)
}

func TestForEach(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, n := range []int{0, 1, 1000} {
		var total atomic.Int64
		err := mr.ForEach(context.Background(), upTo(n), func(_ context.Context, i int) error {
			total.Add(int64(i))
			return nil
		}, mr.WithWorkers(4))
		require.NoError(t, err)
		assert.Equal(t, int64(n*(n-1)/2), total.Load(), "items=%d", n)
	}

	errBoom := errors.New("boom")
	err := mr.ForEach(context.Background(), upTo(1000), func(_ context.Context, i int) error {
		if i == 10 {
			return errBoom
		}
		return nil
	})
	assert.Same(t, errBoom, err)

	r := catch(func() {
		_ = mr.ForEach(context.Background(), upTo(1000), func(_ context.Context, i int) error {
			if i == 10 {
				panic("boom")
			}
			return nil
		})
	})
	pe, ok := r.(*mr.PanicError)
	require.True(t, ok, "recovered %T %v", r, r)
	assert.Equal(t, "boom", pe.Value)
}

func TestForEachDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := mr.ForEach(ctx, upTo(10), func(_ context.Context, i int) error {
		<-release // ignores ctx
		return nil
	})
	elapsed := time.Since(start)
	assert.Equal(t, context.DeadlineExceeded, err)
	assert.Less(t, elapsed, 3*time.Second)
	close(release)
}

func TestFinish(t *testing.T) {
	defer goleak.VerifyNone(t)
	var a, b atomic.Bool
	err := mr.Finish(context.Background(),
		func(context.Context) error { a.Store(true); return nil },
		func(context.Context) error { b.Store(true); return nil })
	require.NoError(t, err)
	assert.True(t, a.Load())
	assert.True(t, b.Load())

	require.NoError(t, mr.Finish(context.Background()))
}

// All functions run concurrently: each waits for all the others to start.
func TestFinishConcurrent(t *testing.T) {
	const n = 5
	var started sync.WaitGroup
	started.Add(n)
	fns := make([]func(context.Context) error, n)
	for i := range fns {
		fns[i] = func(ctx context.Context) error {
			started.Done()
			started.Wait()
			return nil
		}
	}
	require.NoError(t, mr.Finish(context.Background(), fns...))
}

func TestFinishFirstErrorCancelsOthers(t *testing.T) {
	defer goleak.VerifyNone(t)
	errBoom := errors.New("boom")
	cancelled := make(chan error, 1)
	err := mr.Finish(context.Background(),
		func(ctx context.Context) error {
			<-ctx.Done()
			cancelled <- context.Cause(ctx)
			return errors.New("late")
		},
		func(context.Context) error { return errBoom })
	assert.Same(t, errBoom, err)
	assert.Same(t, errBoom, <-cancelled)
}

func TestFinishPanic(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := catch(func() {
		_ = mr.Finish(context.Background(),
			func(ctx context.Context) error { <-ctx.Done(); return nil },
			func(context.Context) error { panic("boom") })
	})
	pe, ok := r.(*mr.PanicError)
	require.True(t, ok, "recovered %T %v", r, r)
	assert.Equal(t, "boom", pe.Value)
}

func TestFinishDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := mr.Finish(ctx, func(context.Context) error { <-release; return nil })
	elapsed := time.Since(start)
	assert.Equal(t, context.DeadlineExceeded, err)
	assert.Less(t, elapsed, 3*time.Second)
	close(release)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	assert.Same(t, context.Canceled, mr.Finish(ctx, func(context.Context) error { return nil }))
}

func TestFinishVoid(t *testing.T) {
	defer goleak.VerifyNone(t)
	var count atomic.Int64
	mr.FinishVoid(func() { count.Add(1) }, func() { count.Add(2) }, func() { count.Add(4) })
	assert.Equal(t, int64(7), count.Load())
	mr.FinishVoid()

	r := catch(func() { mr.FinishVoid(func() {}, func() { panic("boom") }) })
	pe, ok := r.(*mr.PanicError)
	require.True(t, ok, "recovered %T %v", r, r)
	assert.Equal(t, "boom", pe.Value)

	r = catch(func() { mr.FinishVoid(runtime.Goexit) })
	assert.Same(t, mr.ErrGoexit, r)
}
