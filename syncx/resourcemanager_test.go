package syncx_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/syncx"
)

// conn is a resource that counts how often it is closed.
type conn struct {
	name     string
	closes   atomic.Int32
	closeErr error
}

func (c *conn) Close() error {
	c.closes.Add(1)
	return c.closeErr
}

func TestResourceManagerCreatesOnce(t *testing.T) {
	const n = 20
	var m syncx.ResourceManager[string, *conn]
	var creates atomic.Int32
	release := make(chan struct{})
	create := func() (*conn, error) {
		creates.Add(1)
		<-release
		return &conn{name: "db"}, nil
	}
	got := make(chan *conn, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := m.Get("dsn", create)
			assert.NoError(t, err)
			got <- c
		}()
	}
	// Let the creation start, then make sure the others pile up behind it.
	waitFor(t, "create to start", func() bool { return creates.Load() == 1 })
	close(release)
	wg.Wait()
	close(got)
	var first *conn
	for c := range got {
		require.NotNil(t, c)
		if first == nil {
			first = c
		}
		assert.Same(t, first, c, "every caller gets the one resource")
	}
	assert.Equal(t, int32(1), creates.Load(), "creations")

	c, err := m.Get("dsn", func() (*conn, error) { t.Error("create called for an existing key"); return nil, nil })
	assert.NoError(t, err)
	assert.Same(t, first, c)
	require.NoError(t, m.Close())
	assert.Equal(t, int32(1), first.closes.Load())
}

func TestResourceManagerFailedCreateNotCached(t *testing.T) {
	var m syncx.ResourceManager[string, *conn]
	defer m.Close()
	errDown := errors.New("db down")
	tries := 0
	create := func() (*conn, error) {
		tries++
		if tries < 3 {
			return nil, errDown
		}
		return &conn{}, nil
	}
	steps := []struct {
		wantErr   error
		wantTries int
	}{
		{errDown, 1},
		{errDown, 2},
		{nil, 3},
		{nil, 3}, // cached now
	}
	for i, s := range steps {
		c, err := m.Get("dsn", create)
		assert.Equal(t, s.wantErr, err, "step %d: Get error", i)
		assert.Equal(t, s.wantErr == nil, c != nil, "step %d: resource", i)
		assert.Equal(t, s.wantTries, tries, "step %d: creates", i)
	}
}

func TestResourceManagerClose(t *testing.T) {
	var m syncx.ResourceManager[string, *conn]
	errA, errB := errors.New("close a"), errors.New("close b")
	conns := map[string]*conn{
		"a": {name: "a", closeErr: errA},
		"b": {name: "b", closeErr: errB},
		"c": {name: "c"},
	}
	for k, c := range conns {
		c := c
		got, err := m.Get(k, func() (*conn, error) { return c, nil })
		require.NoError(t, err)
		require.Same(t, c, got)
	}
	err := m.Close()
	assert.ErrorIs(t, err, errA)
	assert.ErrorIs(t, err, errB)
	for k, c := range conns {
		assert.Equal(t, int32(1), c.closes.Load(), "closes of %s", k)
	}

	assert.NoError(t, m.Close(), "second Close")
	for k, c := range conns {
		assert.Equal(t, int32(1), c.closes.Load(), "closes of %s after a second Close", k)
	}

	created := false
	c, err := m.Get("a", func() (*conn, error) { created = true; return &conn{}, nil })
	assert.ErrorIs(t, err, syncx.ErrClosed)
	assert.Nil(t, c)
	assert.False(t, created, "create called after Close")
}

func TestResourceManagerCloseDuringCreate(t *testing.T) {
	errClose := errors.New("close failed")
	for _, closeErr := range []error{nil, errClose} {
		var m syncx.ResourceManager[string, *conn]
		started, release := make(chan struct{}), make(chan struct{})
		made := &conn{closeErr: closeErr}
		errc := make(chan error, 1)
		go func() {
			_, err := m.Get("k", func() (*conn, error) {
				close(started)
				<-release
				return made, nil
			})
			errc <- err
		}()
		<-started
		require.NoError(t, m.Close())
		close(release)
		err := <-errc
		assert.ErrorIs(t, err, syncx.ErrClosed)
		if closeErr != nil {
			assert.ErrorIs(t, err, closeErr)
		}
		assert.Equal(t, int32(1), made.closes.Load(), "a resource made after Close is closed")
	}
}

func TestResourceManagerCreatePanics(t *testing.T) {
	var m syncx.ResourceManager[string, *conn]
	defer m.Close()
	assert.Panics(t, func() {
		m.Get("k", func() (*conn, error) { panic("create failed hard") })
	})
	c, err := m.Get("k", func() (*conn, error) { return &conn{}, nil })
	assert.NoError(t, err, "a panicked create is not cached")
	assert.NotNil(t, c)
}
