package syncx_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/levee-go/levee/syncx"
)

func TestLockedCallsSerializes(t *testing.T) {
	const n = 20
	var lc syncx.LockedCalls[string, int]
	var inFlight, maxInFlight, calls atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			do := lc.Do
			if i%2 == 1 {
				do = func(key string, fn func() (int, error)) (int, error) {
					return lc.DoContext(context.Background(), key, fn)
				}
			}
			v, err := do("k", func() (int, error) {
				cur := inFlight.Add(1)
				if cur > maxInFlight.Load() {
					maxInFlight.Store(cur)
				}
				calls.Add(1)
				runtimeYield()
				inFlight.Add(-1)
				return i, nil
			})
			assert.NoError(t, err)
			assert.Equal(t, i, v, "each caller gets its own result")
		}(i)
	}
	wg.Wait()
	assert.Equal(t, int32(n), calls.Load(), "every caller runs its own fn")
	assert.Equal(t, int32(1), maxInFlight.Load(), "calls running at once for one key")
	assert.Equal(t, 0, lc.Len(), "keys left after the run")
}

func TestLockedCallsKeysIndependent(t *testing.T) {
	var lc syncx.LockedCalls[string, int]
	release := make(chan struct{})
	held := make(chan int, 1)
	go func() {
		v, _ := lc.Do("a", func() (int, error) { <-release; return 1, nil })
		held <- v
	}()
	waitFor(t, "key a held", func() bool { return lc.Refs("a") == 1 })
	v, err := lc.Do("b", func() (int, error) { return 2, nil })
	assert.NoError(t, err)
	assert.Equal(t, 2, v, "key b runs while key a is held")
	assert.Equal(t, 1, lc.Len())
	close(release)
	assert.Equal(t, 1, <-held)
	assert.Equal(t, 0, lc.Len())
}

// TestLockedCallsOrder checks that callers queued behind a held key run
// first come, first served, whichever method they called.
func TestLockedCallsOrder(t *testing.T) {
	var lc syncx.LockedCalls[string, int]
	release := make(chan struct{})
	go lc.Do("k", func() (int, error) { <-release; return 0, nil })
	waitFor(t, "key held", func() bool { return lc.Refs("k") == 1 })
	const n = 4
	order := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			fn := func() (int, error) { order <- i; return i, nil }
			if i%2 == 0 {
				lc.Do("k", fn)
			} else {
				lc.DoContext(context.Background(), "k", fn)
			}
		}(i)
		waitFor(t, "caller to queue", func() bool { return lc.Refs("k") == i+2 })
	}
	close(release)
	wg.Wait()
	close(order)
	got := []int{}
	for i := range order {
		got = append(got, i)
	}
	assert.Equal(t, []int{0, 1, 2, 3}, got)
	assert.Equal(t, 0, lc.Len())
}

func TestLockedCallsDoContextCancel(t *testing.T) {
	var lc syncx.LockedCalls[string, int]
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		lc.Do("k", func() (int, error) { <-release; return 0, nil })
	}()
	waitFor(t, "key held", func() bool { return lc.Refs("k") == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	called := atomic.Bool{}
	go func() {
		_, err := lc.DoContext(ctx, "k", func() (int, error) { called.Store(true); return 0, nil })
		errc <- err
	}()
	waitFor(t, "caller to wait", func() bool { return lc.Refs("k") == 2 })
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	assert.False(t, called.Load(), "fn ran after its ctx ended")
	assert.Equal(t, 1, lc.Refs("k"))

	close(release)
	<-done
	assert.Equal(t, 0, lc.Len())

	_, err := lc.DoContext(ctx, "k", func() (int, error) { called.Store(true); return 0, nil })
	assert.ErrorIs(t, err, context.Canceled, "done ctx")
	assert.False(t, called.Load())
	assert.Equal(t, 0, lc.Len())
}

func TestLockedCallsPanicReleasesKey(t *testing.T) {
	var lc syncx.LockedCalls[string, int]
	assert.PanicsWithValue(t, "oops", func() {
		lc.Do("k", func() (int, error) { panic("oops") })
	})
	assert.Equal(t, 0, lc.Len())
	v, err := lc.Do("k", func() (int, error) { return 3, nil })
	assert.NoError(t, err)
	assert.Equal(t, 3, v)
}

// TestLockedCallsStress mixes Do, DoContext and cancellations on a few keys
// and checks mutual exclusion per key and that every key is freed.
func TestLockedCallsStress(t *testing.T) {
	var lc syncx.LockedCalls[int, int]
	const nkeys = 3
	var inFlight [nkeys]atomic.Int32
	var ran atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				k := (w + i) % nkeys
				fn := func() (int, error) {
					if n := inFlight[k].Add(1); n != 1 {
						t.Errorf("key %d: %d calls at once", k, n)
					}
					runtimeYield()
					inFlight[k].Add(-1)
					ran.Add(1)
					return k, nil
				}
				if i%2 == 0 {
					v, err := lc.Do(k, fn)
					assert.NoError(t, err)
					assert.Equal(t, k, v)
					continue
				}
				ctx, cancel := context.WithCancel(context.Background())
				go cancel()
				if v, err := lc.DoContext(ctx, k, fn); err == nil {
					assert.Equal(t, k, v)
				} else {
					assert.ErrorIs(t, err, context.Canceled)
				}
				cancel()
			}
		}(w)
	}
	wg.Wait()
	assert.GreaterOrEqual(t, ran.Load(), int32(8*300/2))
	assert.Equal(t, 0, lc.Len())
}

func TestLockedCallsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled values at random")
	}
	var lc syncx.LockedCalls[int, int]
	i := 0
	fn := func() (int, error) { return 1, nil }
	allocs := testing.AllocsPerRun(1000, func() {
		lc.Do(i%16, fn)
		i++
	})
	assert.Equal(t, 0.0, allocs, "allocations per uncontended Do")
}
