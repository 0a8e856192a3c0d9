package syncx_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/syncx"
)

var errBoom = errors.New("boom")

// doer is one way to call a SingleFlight, so that each test runs over both.
type doer struct {
	name string
	do   func(g *syncx.SingleFlight[string, int], key string, fn func() (int, error)) (int, bool, error)
}

var doers = []doer{
	{"Do", func(g *syncx.SingleFlight[string, int], key string, fn func() (int, error)) (int, bool, error) {
		return g.Do(key, fn)
	}},
	{"DoContext", func(g *syncx.SingleFlight[string, int], key string, fn func() (int, error)) (int, bool, error) {
		return g.DoContext(context.Background(), key, func(context.Context) (int, error) { return fn() })
	}},
}

func TestSingleFlightSingleCaller(t *testing.T) {
	tests := []struct {
		name    string
		val     int
		err     error
		wantVal int
	}{
		{"value", 42, nil, 42},
		{"error", 7, errBoom, 7},
		{"zero", 0, nil, 0},
	}
	for _, d := range doers {
		for _, tt := range tests {
			t.Run(d.name+"/"+tt.name, func(t *testing.T) {
				var g syncx.SingleFlight[string, int]
				v, shared, err := d.do(&g, "k", func() (int, error) { return tt.val, tt.err })
				assert.Equal(t, tt.wantVal, v)
				assert.False(t, shared)
				assert.Equal(t, tt.err, err)
				assert.Equal(t, 0, g.Len(), "calls left in flight")
			})
		}
	}
}

// TestSingleFlightShared starts n callers on one key, holds the function
// until all of them wait, and checks it ran once and every caller got its
// result, marked shared.
func TestSingleFlightShared(t *testing.T) {
	const n = 20
	for _, d := range doers {
		t.Run(d.name, func(t *testing.T) {
			var g syncx.SingleFlight[string, int]
			var calls atomic.Int32
			release := make(chan struct{})
			fn := func() (int, error) {
				calls.Add(1)
				<-release
				return 99, errBoom
			}
			type res struct {
				v      int
				shared bool
				err    error
			}
			results := make(chan res, n)
			for i := 0; i < n; i++ {
				go func() {
					v, shared, err := d.do(&g, "k", fn)
					results <- res{v, shared, err}
				}()
			}
			waitFor(t, "all callers to wait", func() bool { return g.Waiting("k") == n })
			close(release)
			for i := 0; i < n; i++ {
				r := <-results
				assert.Equal(t, res{99, true, errBoom}, r, "caller %d", i)
			}
			assert.Equal(t, int32(1), calls.Load(), "fn calls")
			assert.Equal(t, 0, g.Len())

			// The call is over: the next caller starts afresh.
			v, shared, err := d.do(&g, "k", func() (int, error) { return 1, nil })
			assert.Equal(t, 1, v)
			assert.False(t, shared)
			assert.NoError(t, err)
		})
	}
}

func TestSingleFlightMixedCallers(t *testing.T) {
	var g syncx.SingleFlight[string, int]
	release := make(chan struct{})
	var calls atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, shared, err := doers[i%2].do(&g, "k", func() (int, error) {
				calls.Add(1)
				<-release
				return 5, nil
			})
			assert.Equal(t, 5, v)
			assert.True(t, shared)
			assert.NoError(t, err)
		}(i)
	}
	waitFor(t, "all callers to wait", func() bool { return g.Waiting("k") == 6 })
	close(release)
	wg.Wait()
	assert.Equal(t, int32(1), calls.Load())
}

func TestSingleFlightDistinctKeys(t *testing.T) {
	var g syncx.SingleFlight[int, int]
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, _, err := g.Do(i, func() (int, error) { return i * 2, nil })
			assert.NoError(t, err)
			assert.Equal(t, i*2, v)
		}(i)
	}
	wg.Wait()
	assert.Equal(t, 0, g.Len())
}

// TestSingleFlightDoContextOneLeaves checks that a caller whose ctx ends
// gets ctx.Err() while the call goes on, uncancelled, for the others.
func TestSingleFlightDoContextOneLeaves(t *testing.T) {
	for _, first := range []bool{true, false} {
		t.Run(fmt.Sprintf("leaver_is_first=%v", first), func(t *testing.T) {
			var g syncx.SingleFlight[string, int]
			release := make(chan struct{})
			fnErr := make(chan error, 1)
			fn := func(ctx context.Context) (int, error) {
				<-release
				fnErr <- ctx.Err()
				return 8, nil
			}
			leaveCtx, leave := context.WithCancel(context.Background())
			defer leave()
			leaver := make(chan error, 1)
			stayer := make(chan int, 1)
			startLeaver := func() {
				go func() {
					_, shared, err := g.DoContext(leaveCtx, "k", fn)
					assert.True(t, shared, "shared of the caller that left: the same as the stayer's")
					leaver <- err
				}()
			}
			startStayer := func() {
				go func() {
					v, shared, err := g.DoContext(context.Background(), "k", fn)
					assert.True(t, shared)
					assert.NoError(t, err)
					stayer <- v
				}()
			}
			if first {
				startLeaver()
				waitFor(t, "leader", func() bool { return g.Waiting("k") == 1 })
				startStayer()
			} else {
				startStayer()
				waitFor(t, "leader", func() bool { return g.Waiting("k") == 1 })
				startLeaver()
			}
			waitFor(t, "both callers", func() bool { return g.Waiting("k") == 2 })

			leave()
			assert.ErrorIs(t, <-leaver, context.Canceled)
			assert.Equal(t, 1, g.Waiting("k"), "waiting after one left")

			close(release)
			assert.NoError(t, <-fnErr, "fn's ctx must not end while a caller waits")
			assert.Equal(t, 8, <-stayer)
		})
	}
}

// TestSingleFlightDoContextAloneLeaves: a caller alone in its call that
// leaves reports shared=false, and nobody can join the abandoned call.
func TestSingleFlightDoContextAloneLeaves(t *testing.T) {
	var g syncx.SingleFlight[string, int]
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, shared, err := g.DoContext(ctx, "k", func(context.Context) (int, error) { <-release; return 1, nil })
		assert.False(t, shared)
		assert.ErrorIs(t, err, context.Canceled)
	}()
	waitFor(t, "caller to wait", func() bool { return g.Waiting("k") == 1 })
	cancel()
	<-done
	close(release)
	v, shared, err := g.DoContext(context.Background(), "k", func(context.Context) (int, error) { return 2, nil })
	assert.Equal(t, 2, v)
	assert.False(t, shared)
	assert.NoError(t, err)
}

// TestSingleFlightDoContextAllLeave checks that fn's context ends when the
// last caller has left, and that the next caller starts a new call.
func TestSingleFlightDoContextAllLeave(t *testing.T) {
	var g syncx.SingleFlight[string, int]
	type ctxKey struct{}
	started := make(chan struct{})
	ended := make(chan error, 1)
	var gotValue atomic.Value
	fn := func(ctx context.Context) (int, error) {
		gotValue.Store(ctx.Value(ctxKey{}))
		_, hasDeadline := ctx.Deadline()
		assert.False(t, hasDeadline, "fn's ctx must not carry a caller's deadline")
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return 0, ctx.Err()
	}

	const n = 3
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	for i := range ctxs {
		ctxs[i], cancels[i] = context.WithCancel(context.WithValue(context.Background(), ctxKey{}, i))
		defer cancels[i]()
	}
	ctxs[0], cancels[0] = context.WithTimeout(ctxs[0], 1<<40) // a deadline fn must not see
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			_, shared, err := g.DoContext(ctxs[i], "k", fn)
			assert.True(t, shared, "caller %d of a call with %d callers", i, n)
			errs <- err
		}(i)
		waitFor(t, "caller to wait", func() bool { return g.Waiting("k") == i+1 })
	}
	<-started
	assert.Equal(t, 0, gotValue.Load(), "fn's ctx carries the first caller's values")

	for i := 0; i < n; i++ {
		cancels[i]()
		assert.ErrorIs(t, <-errs, context.Canceled, "caller %d", i)
		if i < n-1 {
			select {
			case err := <-ended:
				t.Fatalf("fn's ctx ended (%v) with %d callers still waiting", err, n-1-i)
			default:
			}
		}
	}
	assert.ErrorIs(t, <-ended, context.Canceled, "fn's ctx after the last caller left")
	assert.Equal(t, 0, g.Len(), "an abandoned call is forgotten")

	v, shared, err := g.DoContext(context.Background(), "k", func(context.Context) (int, error) { return 3, nil })
	assert.Equal(t, 3, v)
	assert.False(t, shared)
	assert.NoError(t, err)
}

func TestSingleFlightDoContextDoneCtx(t *testing.T) {
	var g syncx.SingleFlight[string, int]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	_, _, err := g.DoContext(ctx, "k", func(context.Context) (int, error) { called = true; return 1, nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, called)
	assert.Equal(t, 0, g.Len())
}

// TestSingleFlightDoContextDoWaiterKeepsCall: a caller of Do never leaves,
// so a call it shares with DoContext callers is not cancelled when they go.
func TestSingleFlightDoContextDoWaiterKeepsCall(t *testing.T) {
	var g syncx.SingleFlight[string, int]
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leaverErr := make(chan error, 1)
	go func() {
		_, _, err := g.DoContext(ctx, "k", func(ctx context.Context) (int, error) {
			<-release
			return 4, ctx.Err()
		})
		leaverErr <- err
	}()
	waitFor(t, "leader", func() bool { return g.Waiting("k") == 1 })
	got := make(chan error, 1)
	go func() {
		v, _, err := g.Do("k", func() (int, error) { return -1, nil })
		assert.Equal(t, 4, v)
		got <- err
	}()
	waitFor(t, "Do caller", func() bool { return g.Waiting("k") == 2 })
	cancel()
	assert.ErrorIs(t, <-leaverErr, context.Canceled)
	close(release)
	assert.NoError(t, <-got, "fn's ctx was cancelled under a Do caller")
}

// TestSingleFlightPanic checks that a panic reaches every caller, with its
// value and the stack of the panicking goroutine.
func TestSingleFlightPanic(t *testing.T) {
	tests := []struct {
		name  string
		value any
	}{
		{"string", "kaboom"},
		{"error", errBoom},
		{"nil", nil},
	}
	const n = 5
	for _, d := range doers {
		for _, tt := range tests {
			t.Run(d.name+"/"+tt.name, func(t *testing.T) {
				var g syncx.SingleFlight[string, int]
				release := make(chan struct{})
				fn := func() (int, error) {
					<-release
					panickingFunction(tt.value)
					return 1, nil
				}
				recovered := make(chan any, n)
				for i := 0; i < n; i++ {
					go func() {
						defer func() { recovered <- recover() }()
						v, shared, err := d.do(&g, "k", fn)
						t.Errorf("Do returned (%v, %v, %v) after a panic", v, shared, err)
					}()
				}
				waitFor(t, "all callers to wait", func() bool { return g.Waiting("k") == n })
				close(release)
				for i := 0; i < n; i++ {
					r := <-recovered
					pe, ok := r.(*syncx.PanicError)
					require.True(t, ok, "caller %d recovered %T %v, want *syncx.PanicError", i, r, r)
					if tt.value == nil {
						var pn *runtime.PanicNilError
						assert.ErrorAs(t, pe, &pn)
					} else {
						assert.Equal(t, tt.value, pe.Value)
					}
					assert.Contains(t, string(pe.Stack), "panickingFunction", "stack of the panic")
					assert.Contains(t, pe.Error(), "syncx: panic: ")
					if err, ok := tt.value.(error); ok {
						assert.ErrorIs(t, pe, err)
					}
				}
				assert.Equal(t, 0, g.Len())
			})
		}
	}
}

func panickingFunction(v any) { panic(v) }

// TestSingleFlightGoexit checks that runtime.Goexit in fn is not taken for
// a panic: the goroutine running fn exits, everybody else gets ErrGoexit.
func TestSingleFlightGoexit(t *testing.T) {
	t.Run("Do", func(t *testing.T) {
		var g syncx.SingleFlight[string, int]
		release := make(chan struct{})
		exited := make(chan bool)
		go func() {
			returned := false
			defer func() { exited <- returned }()
			g.Do("k", func() (int, error) {
				<-release
				runtime.Goexit()
				return 0, nil
			})
			returned = true
		}()
		waitFor(t, "leader", func() bool { return g.Waiting("k") == 1 })
		errs := make(chan error, 2)
		for i := 0; i < 2; i++ {
			go func() {
				_, _, err := doers[i%2].do(&g, "k", func() (int, error) { return 0, nil })
				errs <- err
			}()
		}
		waitFor(t, "waiters", func() bool { return g.Waiting("k") == 3 })
		close(release)
		assert.False(t, <-exited, "Do returned in a goroutine that called runtime.Goexit")
		assert.ErrorIs(t, <-errs, syncx.ErrGoexit)
		assert.ErrorIs(t, <-errs, syncx.ErrGoexit)
		assert.Equal(t, 0, g.Len())
	})
	t.Run("DoContext", func(t *testing.T) {
		var g syncx.SingleFlight[string, int]
		_, _, err := g.DoContext(context.Background(), "k", func(context.Context) (int, error) {
			runtime.Goexit()
			return 0, nil
		})
		assert.ErrorIs(t, err, syncx.ErrGoexit)
		assert.Equal(t, 0, g.Len())
	})
}

func TestSingleFlightForget(t *testing.T) {
	for _, d := range doers {
		t.Run(d.name, func(t *testing.T) {
			var g syncx.SingleFlight[string, int]
			release1 := make(chan struct{})
			first := make(chan int, 1)
			go func() {
				v, _, _ := d.do(&g, "k", func() (int, error) { <-release1; return 1, nil })
				first <- v
			}()
			waitFor(t, "first call", func() bool { return g.Waiting("k") == 1 })
			g.Forget("k")
			assert.Equal(t, 0, g.Len())

			// A new call starts while the first is still running.
			v, shared, err := d.do(&g, "k", func() (int, error) { return 2, nil })
			assert.Equal(t, 2, v)
			assert.False(t, shared)
			assert.NoError(t, err)

			close(release1)
			assert.Equal(t, 1, <-first)
			g.Forget("absent") // no-op
		})
	}
}

// TestSingleFlightStress mixes keys, callers, errors and cancellations so
// that recycled call records are exercised under the race detector.
func TestSingleFlightStress(t *testing.T) {
	var g syncx.SingleFlight[string, int]
	keys := make([]string, 8)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	// Every function for key k returns the same outcome, since a caller may
	// join a call another one started: k and, for odd k, errBoom.
	outcome := func(k int) (int, error) {
		if k%2 == 1 {
			return k, errBoom
		}
		return k, nil
	}
	check := func(k, v int, err error) {
		want, wantErr := outcome(k)
		assert.Equal(t, want, v)
		assert.Equal(t, wantErr, err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				k := (w + i) % len(keys)
				key := keys[k]
				if i%2 == 0 {
					v, _, err := g.Do(key, func() (int, error) { runtime.Gosched(); return outcome(k) })
					check(k, v, err)
					continue
				}
				ctx, cancel := context.WithCancel(context.Background())
				if i%3 == 0 {
					cancel()
				} else if i%3 == 1 {
					go cancel()
				}
				v, _, err := g.DoContext(ctx, key, func(context.Context) (int, error) { runtime.Gosched(); return outcome(k) })
				if !errors.Is(err, context.Canceled) {
					check(k, v, err)
				}
				cancel()
			}
		}(w)
	}
	wg.Wait()
	assert.Equal(t, 0, g.Len())
}

func TestSingleFlightDoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled values at random")
	}
	var g syncx.SingleFlight[string, int]
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	fn := func() (int, error) { return 1, nil }
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		g.Do(keys[i%len(keys)], fn)
		i++
	})
	assert.Equal(t, 0.0, allocs, "allocations per Do on a new key")
}

// Crash behaviour runs in a subprocess: an unrecovered panic must end the
// program rather than be swallowed.
func TestSingleFlightPanicCrashes(t *testing.T) {
	if mode := os.Getenv("SYNCX_CRASH_TEST"); mode != "" {
		crashChild(mode)
		return
	}
	tests := []struct {
		mode string
		want []string
	}{
		// The leader of Do does not recover: its goroutine panics.
		{"do", []string{"panic: syncx: panic: sentinel-do", "crashChildFn"}},
		// Every DoContext caller has left: the goroutine running fn panics.
		{"abandoned", []string{"panic: syncx: panic: sentinel-abandoned", "crashChildFn"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestSingleFlightPanicCrashes$", "-test.count=1")
			cmd.Env = append(os.Environ(), "SYNCX_CRASH_TEST="+tt.mode)
			out, err := cmd.CombinedOutput()
			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, "child did not crash; output:\n%s", out)
			assert.NotEqual(t, 0, exitErr.ExitCode())
			for _, w := range tt.want {
				assert.Contains(t, string(out), w)
			}
		})
	}
}

func crashChildFn(v string) (int, error) { panic(v) }

func crashChild(mode string) {
	var g syncx.SingleFlight[string, int]
	switch mode {
	case "do":
		g.Do("k", func() (int, error) { return crashChildFn("sentinel-do") })
	case "abandoned":
		ctx, cancel := context.WithCancel(context.Background())
		left := make(chan struct{})
		go func() {
			<-left
			cancel()
		}()
		g.DoContext(ctx, "k", func(ctx context.Context) (int, error) {
			close(left)
			<-ctx.Done() // every caller has left
			return crashChildFn("sentinel-abandoned")
		})
		select {} // the crash comes from the goroutine running fn
	}
	os.Exit(0)
}
