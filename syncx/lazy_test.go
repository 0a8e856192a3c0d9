package syncx_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/syncx"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestNewLazyConfig(t *testing.T) {
	fetch := func() (int, error) { return 1, nil }
	tests := []struct {
		name    string
		fetch   func() (int, error)
		opts    []syncx.LazyOption
		wantErr string
	}{
		{"defaults", fetch, nil, ""},
		{"zero interval", fetch, []syncx.LazyOption{syncx.WithRetryInterval(0)}, ""},
		{"nil fetch", nil, nil, "syncx: fetch function is nil"},
		{"negative interval", fetch, []syncx.LazyOption{syncx.WithRetryInterval(-time.Second)}, "syncx: retry interval must not be negative, got -1s"},
		{"nil clock", fetch, []syncx.LazyOption{syncx.WithClock(nil)}, "syncx: clock is nil"},
		{"last wins", fetch, []syncx.LazyOption{syncx.WithRetryInterval(-1), syncx.WithRetryInterval(time.Second)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := syncx.NewLazy(tt.fetch, tt.opts...)
			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				assert.Nil(t, l)
				return
			}
			require.NoError(t, err)
			v, err := l.Get()
			assert.NoError(t, err)
			assert.Equal(t, 1, v)
		})
	}
}

func TestLazyRetry(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	errDown := errors.New("down")
	fetches := 0
	fail := true
	l, err := syncx.NewLazy(func() (string, error) {
		fetches++
		if fail {
			return "", errDown
		}
		return "config", nil
	}, syncx.WithRetryInterval(time.Second), syncx.WithClock(clock))
	require.NoError(t, err)

	steps := []struct {
		advance     time.Duration
		fail        bool
		want        string
		wantErr     error
		wantFetches int
	}{
		{0, true, "", errDown, 1},
		{500 * time.Millisecond, true, "", errDown, 1},  // within the interval: cached error
		{499 * time.Millisecond, false, "", errDown, 1}, // still within
		{time.Millisecond, true, "", errDown, 2},        // interval over: fetch again, fails
		{time.Second, false, "config", nil, 3},          // fetch again, succeeds
		{time.Hour, true, "config", nil, 3},             // kept for good
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		fail = s.fail
		v, err := l.Get()
		assert.Equal(t, s.want, v, "step %d: Get value", i)
		assert.Equal(t, s.wantErr, err, "step %d: Get error", i)
		assert.Equal(t, s.wantFetches, fetches, "step %d: fetches", i)
	}
}

func TestLazyZeroRetryInterval(t *testing.T) {
	fetches := 0
	l, err := syncx.NewLazy(func() (int, error) { fetches++; return 0, errors.New("no") },
		syncx.WithRetryInterval(0), syncx.WithClock(&fakeClock{}))
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		_, err := l.Get()
		assert.Error(t, err)
		assert.Equal(t, i, fetches)
	}
}

func TestLazyConcurrentFetchOnce(t *testing.T) {
	var fetches atomic.Int32
	l, err := syncx.NewLazy(func() (int, error) { fetches.Add(1); runtimeYield(); return 7, nil })
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := l.Get()
			assert.NoError(t, err)
			assert.Equal(t, 7, v)
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), fetches.Load())
}

func TestLazyPanicNotRemembered(t *testing.T) {
	first := true
	l, err := syncx.NewLazy(func() (int, error) {
		if first {
			first = false
			panic("flaky")
		}
		return 2, nil
	})
	require.NoError(t, err)
	assert.PanicsWithValue(t, "flaky", func() { l.Get() })
	v, err := l.Get()
	assert.NoError(t, err)
	assert.Equal(t, 2, v)
}
