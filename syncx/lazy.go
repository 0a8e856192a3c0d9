package syncx

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRetryInterval is how long [Lazy] returns a failed fetch's error
// before it fetches again, unless [WithRetryInterval] says otherwise.
const DefaultRetryInterval = time.Second

// Clock tells the time. Any type with a Now method fits, so a fake clock
// shared with other levee modules works here too.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Lazy is a value fetched on first use and kept from then on, such as a
// configuration or a client that needs a network round trip to build.
//
// Unlike [sync.OnceValues], a failure is not kept forever: its error is
// returned for the retry interval (see [WithRetryInterval]) without calling
// fetch again, so a dependency that is down is not hammered, and the first
// [Lazy.Get] after that tries again. Once a fetch succeeds its value is
// returned for good, at the cost of one atomic load.
//
// fetch runs under a lock of the Lazy, one at a time; other callers of Get
// wait for it. A panic in fetch reaches its caller and is not remembered.
//
// A Lazy must be made with [NewLazy]. It is safe for concurrent use by
// multiple goroutines.
type Lazy[T any] struct {
	fetch func() (T, error)
	retry time.Duration
	clock Clock

	ok  atomic.Bool // val is set and final
	val T           // written once, before ok is set

	mu    sync.Mutex // serializes fetch; guards err and errAt
	err   error      // the last failure, if any
	errAt time.Time  // when err happened
}

// LazyOption configures a [Lazy].
type LazyOption func(*lazyConfig)

type lazyConfig struct {
	retry time.Duration
	clock Clock
}

// WithRetryInterval sets how long a failed fetch's error is returned before
// fetching again. Zero means every Get after a failure fetches again; it
// must not be negative. The default is [DefaultRetryInterval].
func WithRetryInterval(d time.Duration) LazyOption {
	return func(c *lazyConfig) { c.retry = d }
}

// WithClock sets the clock used to time the retry interval; the default is
// the system clock. Tests pass a fake one.
func WithClock(clock Clock) LazyOption {
	return func(c *lazyConfig) { c.clock = clock }
}

// NewLazy returns a Lazy whose value is made by fetch.
func NewLazy[T any](fetch func() (T, error), opts ...LazyOption) (*Lazy[T], error) {
	if fetch == nil {
		return nil, errors.New("syncx: fetch function is nil")
	}
	cfg := lazyConfig{retry: DefaultRetryInterval, clock: systemClock{}}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.retry < 0 {
		return nil, fmt.Errorf("syncx: retry interval must not be negative, got %v", cfg.retry)
	}
	if cfg.clock == nil {
		return nil, errors.New("syncx: clock is nil")
	}
	return &Lazy[T]{fetch: fetch, retry: cfg.retry, clock: cfg.clock}, nil
}

// Get returns the value, fetching it if it has not been fetched yet and the
// last failure, if any, is older than the retry interval. Otherwise it
// returns that failure's error without calling fetch.
func (l *Lazy[T]) Get() (T, error) {
	if l.ok.Load() {
		return l.val, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var zero T
	if l.ok.Load() {
		return l.val, nil
	}
	if l.err != nil && l.clock.Now().Sub(l.errAt) < l.retry {
		return zero, l.err
	}
	v, err := l.fetch()
	if err != nil {
		l.err, l.errAt = err, l.clock.Now()
		return zero, err
	}
	l.val, l.err = v, nil
	l.ok.Store(true)
	return v, nil
}
