package syncx_test

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/syncx"
)

func newLimit(t *testing.T, n int) *syncx.Limit {
	t.Helper()
	l, err := syncx.NewLimit(n)
	require.NoError(t, err)
	return l
}

func TestNewLimit(t *testing.T) {
	tests := []struct {
		n       int
		wantErr string
	}{
		{1, ""},
		{64, ""},
		{math.MaxInt32, ""},
		{0, "syncx: limit must be between 1 and 2147483647, got 0"},
		{-3, "syncx: limit must be between 1 and 2147483647, got -3"},
	}
	if math.MaxInt > math.MaxInt32 {
		tests = append(tests, struct {
			n       int
			wantErr string
		}{math.MaxInt32 + 1, "syncx: limit must be between 1 and 2147483647, got 2147483648"})
	}
	for _, tt := range tests {
		l, err := syncx.NewLimit(tt.n)
		if tt.wantErr != "" {
			assert.EqualError(t, err, tt.wantErr, "NewLimit(%d)", tt.n)
			assert.Nil(t, l)
			continue
		}
		require.NoError(t, err, "NewLimit(%d)", tt.n)
		assert.Equal(t, tt.n, l.Cap())
		assert.Equal(t, 0, l.InUse())
	}
}

func TestLimitTryAcquireRelease(t *testing.T) {
	l := newLimit(t, 2)
	steps := []struct {
		op        string // "try" or "release"
		want      bool   // TryAcquire's result
		wantInUse int
	}{
		{"try", true, 1},
		{"try", true, 2},
		{"try", false, 2},
		{"release", false, 1},
		{"try", true, 2},
		{"release", false, 1},
		{"release", false, 0},
		{"try", true, 1},
		{"release", false, 0},
	}
	for i, s := range steps {
		if s.op == "try" {
			got := l.TryAcquire()
			assert.Equal(t, s.want, got, "step %d: TryAcquire() = %v, want %v", i, got, s.want)
		} else {
			l.Release()
		}
		assert.Equal(t, s.wantInUse, l.InUse(), "step %d: InUse()", i)
	}
}

func TestLimitReleaseWithoutAcquire(t *testing.T) {
	l := newLimit(t, 2)
	assert.PanicsWithValue(t, "syncx: Release without Acquire", l.Release)
	require.True(t, l.TryAcquire())
	l.Release()
	assert.PanicsWithValue(t, "syncx: Release without Acquire", l.Release)
	assert.Equal(t, 0, l.InUse())
}

func TestLimitAcquireCancel(t *testing.T) {
	l := newLimit(t, 1)
	require.NoError(t, l.Acquire(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Acquire(ctx) }()
	waitFor(t, "Acquire to queue", func() bool { return l.Waiting() == 1 })
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	assert.Equal(t, 0, l.Waiting(), "waiters after cancel")
	assert.Equal(t, 1, l.InUse(), "permits after cancel")

	// No permit was lost or gained.
	assert.False(t, l.TryAcquire())
	l.Release()
	assert.True(t, l.TryAcquire())
	l.Release()
	assert.Equal(t, 0, l.InUse())
}

func TestLimitAcquireDoneCtx(t *testing.T) {
	l := newLimit(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, l.Acquire(ctx), context.Canceled, "a done ctx fails even with a free permit")
	assert.Equal(t, 0, l.InUse())
}

// TestLimitFIFO checks that blocked Acquire calls are served in order and
// that TryAcquire does not jump the queue.
func TestLimitFIFO(t *testing.T) {
	l := newLimit(t, 1)
	require.True(t, l.TryAcquire())
	const n = 4
	order := make(chan int, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			if err := l.Acquire(context.Background()); err != nil {
				t.Errorf("Acquire: %v", err)
			}
			order <- i
		}(i)
		waitFor(t, "Acquire to queue", func() bool { return l.Waiting() == i+1 })
	}
	assert.False(t, l.TryAcquire(), "TryAcquire with waiters queued")
	for i := 0; i < n; i++ {
		l.Release()
		assert.Equal(t, i, <-order, "waiter served")
		assert.Equal(t, 1, l.InUse())
	}
	l.Release()
	assert.Equal(t, 0, l.InUse())
}

// TestLimitUnderLoad hammers a Limit with TryAcquire, Acquire and
// cancellations and checks it never lets more than Cap holders in, is
// saturated, and ends with every permit back.
func TestLimitUnderLoad(t *testing.T) {
	const n, workers, iters = 3, 16, 300
	l := newLimit(t, n)
	var inFlight, maxInFlight, acquired atomic.Int64
	hold := func() {
		cur := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if cur <= m || maxInFlight.CompareAndSwap(m, cur) {
				break
			}
		}
		for i := 0; i < 10; i++ {
			runtimeYield()
		}
		inFlight.Add(-1)
		acquired.Add(1)
		l.Release()
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				switch (w + i) % 3 {
				case 0:
					if l.TryAcquire() {
						hold()
					}
				case 1:
					if err := l.Acquire(context.Background()); err != nil {
						t.Errorf("Acquire: %v", err)
						return
					}
					hold()
				case 2:
					ctx, cancel := context.WithCancel(context.Background())
					go cancel() // races with the grant
					if l.Acquire(ctx) == nil {
						hold()
					}
					cancel()
				}
			}
		}(w)
	}
	wg.Wait()
	assert.Equal(t, int64(n), maxInFlight.Load(), "most holders at once")
	assert.Equal(t, 0, l.InUse(), "permits held at the end")
	assert.Equal(t, 0, l.Waiting(), "waiters at the end")
	assert.Greater(t, acquired.Load(), int64(workers*iters/3), "acquisitions")
	for i := 0; i < n; i++ {
		assert.True(t, l.TryAcquire(), "permit %d after the run", i)
	}
	assert.False(t, l.TryAcquire())
}

func TestLimitFastPathAllocs(t *testing.T) {
	l := newLimit(t, 4)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if l.TryAcquire() {
			l.Release()
		}
		if l.Acquire(ctx) == nil {
			l.Release()
		}
	})
	assert.Equal(t, 0.0, allocs, "allocations per TryAcquire, Acquire and Release with permits free")
}
