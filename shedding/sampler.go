package shedding

import (
	"sync"
	"sync/atomic"
	"time"
)

// samplerKey identifies a sampler: shedders that agree on all of it share
// one goroutine.
type samplerKey struct {
	signal   Signal
	interval time.Duration
	beta     float64
	root     string
}

// samplers holds the running samplers. It is empty until a shedder needs
// one, and empty again once the last shedder is closed: importing the
// package starts nothing.
var samplers struct {
	mu sync.Mutex // guards m and every sampler's refs
	m  map[samplerKey]*sampler
}

// sampler reads a built-in signal every interval on a goroutine of its own
// and publishes the smoothed load.
type sampler struct {
	key  samplerKey
	refs int // guarded by samplers.mu

	load   atomic.Int64
	errors atomic.Int64           // failed readings since the start
	src    atomic.Pointer[string] // name of the reader in use

	stop chan struct{}
	done chan struct{}
}

func acquireSampler(k samplerKey) (*sampler, error) {
	samplers.mu.Lock()
	defer samplers.mu.Unlock()
	if s := samplers.m[k]; s != nil {
		s.refs++
		return s, nil
	}
	e := hostEnv(k.root)
	epoch := time.Now()
	r, err := detect(k.signal, e, 0)
	if err != nil {
		return nil, err
	}
	s := &sampler{key: k, refs: 1, stop: make(chan struct{}), done: make(chan struct{})}
	name := r.name()
	s.src.Store(&name)
	if samplers.m == nil {
		samplers.m = make(map[samplerKey]*sampler)
	}
	samplers.m[k] = s
	go s.run(r, e, epoch)
	return s, nil
}

func releaseSampler(s *sampler) {
	samplers.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(samplers.m, s.key)
	}
	samplers.mu.Unlock()
	if last {
		close(s.stop)
		<-s.done
	}
}

func (s *sampler) sourceName() string { return *s.src.Load() }

// run samples until stop is closed. r has been read once, at time 0 of
// epoch's monotonic clock. A failed reading keeps the last load, counts an
// error and looks for a working source again, down the same chain.
func (s *sampler) run(r reader, e env, epoch time.Time) {
	defer close(s.done)
	t := time.NewTicker(s.key.interval)
	defer t.Stop()
	var busy, capa float64
	primed, smoothed := false, false
	prime := func(now int64) {
		b, c, err := r.read(now)
		busy, capa, primed = b, c, err == nil
		if err != nil {
			s.errors.Add(1)
		}
	}
	prime(0)
	var sm float64
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now := int64(time.Since(epoch))
		if !primed {
			nr, err := detect(s.key.signal, e, now)
			if err != nil {
				s.errors.Add(1)
				continue
			}
			r = nr
			name := r.name()
			s.src.Store(&name)
			prime(now)
			continue
		}
		b, c, err := r.read(now)
		if err != nil {
			s.errors.Add(1)
			primed = false
			continue
		}
		v, ok := permille(busy, capa, b, c)
		busy, capa = b, c
		if !ok {
			continue
		}
		if !smoothed {
			sm, smoothed = float64(v), true
		} else {
			sm = s.key.beta*sm + (1-s.key.beta)*float64(v)
		}
		s.load.Store(int64(sm + 0.5))
	}
}
