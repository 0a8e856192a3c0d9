package syncx

import (
	"errors"
	"io"
	"sync"
)

// ResourceManager keeps one shared resource per key, such as one client per
// DSN, and closes them all on [ResourceManager.Close].
//
// The resource for a key is created by the first [ResourceManager.Get] that
// needs it; concurrent first uses wait for that one creation instead of
// making their own. A failed creation is not remembered: the callers that
// waited for it get its error, and the next Get tries again.
//
// The zero value is ready to use. A ResourceManager is safe for concurrent
// use by multiple goroutines and must not be copied after first use.
type ResourceManager[K comparable, R io.Closer] struct {
	mu     sync.RWMutex // guards res and closed
	res    map[K]R      // lazily made
	closed bool

	creating SingleFlight[K, R]
}

// Get returns the resource for key, calling create to make it if there is
// none yet. After [ResourceManager.Close] it returns [ErrClosed]; a resource
// whose creation was under way when Close was called is closed as soon as it
// is made, and its callers get ErrClosed.
//
// If create panics, the panic is raised in every caller waiting for that
// creation, as with [SingleFlight.Do].
func (m *ResourceManager[K, R]) Get(key K, create func() (R, error)) (R, error) {
	if r, ok, err := m.lookup(key); ok || err != nil {
		return r, err
	}
	r, _, err := m.creating.Do(key, func() (R, error) {
		// Another caller may have made it between lookup and Do.
		if r, ok, err := m.lookup(key); ok || err != nil {
			return r, err
		}
		var zero R
		r, err := create()
		if err != nil {
			return zero, err
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			if cerr := r.Close(); cerr != nil {
				return zero, errors.Join(ErrClosed, cerr)
			}
			return zero, ErrClosed
		}
		if m.res == nil {
			m.res = make(map[K]R)
		}
		m.res[key] = r
		m.mu.Unlock()
		return r, nil
	})
	return r, err
}

func (m *ResourceManager[K, R]) lookup(key K) (r R, ok bool, err error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return r, false, ErrClosed
	}
	r, ok = m.res[key]
	return r, ok, nil
}

// Close closes every resource made so far and makes later calls to Get fail
// with [ErrClosed]. It returns the errors of the resources' Close methods,
// joined with [errors.Join]. Calling Close again does nothing and returns
// nil.
func (m *ResourceManager[K, R]) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	res := m.res
	m.res = nil
	m.mu.Unlock()

	var errs []error
	for _, r := range res {
		if err := r.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
