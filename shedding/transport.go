package shedding

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// DefaultMaxHosts is how many per-host limiters a [RoundTripper] keeps by
// default; see [WithMaxHosts].
const DefaultMaxHosts = 1024

// TransportOption configures [NewTransport] and [Transport]: every
// [LimiterOption], which configures each host's limiter, and the transport
// options [WithHostKey], [WithOverloadStatus], [WithMaxHosts] and
// [WithRequestPriority].
type TransportOption interface {
	applyTransport(*transportConfig)
}

type transportConfig struct {
	limiter  limiterConfig
	key      func(*http.Request) string
	overload func(code int) bool
	priority func(*http.Request) Priority
	maxHosts int
}

type transportOption func(*transportConfig)

func (f transportOption) applyTransport(c *transportConfig) { f(c) }

// WithHostKey sets how a [RoundTripper] picks the limiter of a request. By
// default it is the request's host with port (req.URL.Host), one limiter
// per host, as Elasticsearch's nodes each have their own thread pools.
func WithHostKey(key func(req *http.Request) string) TransportOption {
	return transportOption(func(c *transportConfig) {
		if key == nil {
			c.limiter.fail("nil host key function")
			return
		}
		c.key = key
	})
}

// WithOverloadStatus sets which response status codes are the server's
// overload signals (like a timeout, they shrink the limit). By default
// those are 429 Too Many Requests (Elasticsearch's rejected execution), 503
// Service Unavailable and 504 Gateway Timeout. Other statuses are answers:
// their latency is a sample.
func WithOverloadStatus(overload func(code int) bool) TransportOption {
	return transportOption(func(c *transportConfig) {
		if overload == nil {
			c.limiter.fail("nil overload-status function")
			return
		}
		c.overload = overload
	})
}

// WithMaxHosts bounds how many limiters a [RoundTripper] keeps, between 1
// and [MaxQueue]. When a new host would exceed it, an idle limiter (none in
// flight) is forgotten; if every one is busy the request is rejected.
// Default [DefaultMaxHosts].
func WithMaxHosts(n int) TransportOption {
	return transportOption(func(c *transportConfig) {
		if n < 1 || n > MaxQueue {
			c.limiter.fail("max hosts must be between 1 and %d, got %d", MaxQueue, n)
			return
		}
		c.maxHosts = n
	})
}

// WithRequestPriority sets how a [RoundTripper] classes a request. By
// default every request is of the [Default] class. A function returning an
// invalid Priority makes the request fail.
func WithRequestPriority(priority func(req *http.Request) Priority) TransportOption {
	return transportOption(func(c *transportConfig) {
		if priority == nil {
			c.limiter.fail("nil request-priority function")
			return
		}
		c.priority = priority
	})
}

// RoundTripper is an [http.RoundTripper] that puts an adaptive concurrency
// limit ([Limiter]) in front of every request, one limiter per host by
// default. Make one with [NewTransport] or [Transport]. It composes with
// breaker.Transport in either order: the breaker reacts to failures, the
// limit to queueing.
//
// Outcomes: the latency to the response's headers is the sample; a status
// from [WithOverloadStatus] or a timeout is an overload signal; a canceled
// request and any other transport error are neutral. The response is
// returned to the caller as it came. A rejected request never touches the
// network: RoundTrip closes its body and returns a [*LimitedError] naming
// the host, matching [ErrLimited]. With [WithMaxWait], a request may wait
// for a slot (its context's cancellation ends the wait).
//
// A RoundTripper is safe for concurrent use by multiple goroutines.
type RoundTripper struct {
	base     http.RoundTripper
	cfg      limiterConfig
	key      func(*http.Request) string
	overload func(int) bool
	priority func(*http.Request) Priority
	maxHosts int

	mu    sync.RWMutex // guards hosts
	hosts map[string]*Limiter
}

// NewTransport returns a RoundTripper sending requests through base
// (http.DefaultTransport if nil), or an error describing every invalid
// option.
func NewTransport(base http.RoundTripper, opts ...TransportOption) (*RoundTripper, error) {
	c := transportConfig{
		limiter:  defaultLimiterConfig(),
		key:      func(r *http.Request) string { return r.URL.Host },
		overload: overloadStatus,
		maxHosts: DefaultMaxHosts,
	}
	for _, o := range opts {
		if o == nil {
			c.limiter.fail("nil TransportOption")
			continue
		}
		o.applyTransport(&c)
	}
	if err := c.limiter.check(); err != nil {
		return nil, err
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &RoundTripper{
		base:     base,
		cfg:      c.limiter,
		key:      c.key,
		overload: c.overload,
		priority: c.priority,
		maxHosts: c.maxHosts,
		hosts:    make(map[string]*Limiter),
	}, nil
}

// Transport is [NewTransport] for use in an expression, such as the
// Transport field of a client's configuration. It panics if an option is
// invalid: options are fixed in the program's text, so that is a
// programmer's error.
func Transport(base http.RoundTripper, opts ...TransportOption) http.RoundTripper {
	t, err := NewTransport(base, opts...)
	if err != nil {
		panic(err)
	}
	return t
}

func overloadStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// Limiter returns the limiter of host (a key, see [WithHostKey]), or nil
// if the RoundTripper has none, for [Limiter.Stats].
func (t *RoundTripper) Limiter(host string) *Limiter {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.hosts[host]
}

var errTooManyHosts = errors.New("shedding: too many hosts, all busy")

func (t *RoundTripper) limiter(key string) (*Limiter, error) {
	t.mu.RLock()
	l := t.hosts[key]
	t.mu.RUnlock()
	if l != nil {
		return l, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if l = t.hosts[key]; l != nil {
		return l, nil
	}
	if len(t.hosts) >= t.maxHosts {
		for k, h := range t.hosts {
			if h.inflight.Load() == 0 && h.waiting.Load() == 0 {
				delete(t.hosts, k)
				break
			}
		}
		if len(t.hosts) >= t.maxHosts {
			return nil, errTooManyHosts
		}
	}
	c := t.cfg
	c.name = key
	l = newLimiter(&c)
	t.hosts[key] = l
	return l, nil
}

// RoundTrip implements [http.RoundTripper].
func (t *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	l, err := t.limiter(t.key(req))
	var p Permit
	if err == nil {
		pr := Default
		if t.priority != nil {
			pr = t.priority(req)
		}
		if !pr.Valid() {
			err = fmt.Errorf("shedding: request priority %d is not a valid class", int8(pr))
		} else {
			p, err = l.AcquirePriority(req.Context(), pr)
		}
	}
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil:
		if req.Context().Err() == context.Canceled {
			p.Release()
		} else {
			p.Done(err)
		}
	case t.overload(resp.StatusCode):
		p.Drop()
	default:
		p.Done(nil)
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of the underlying
// transport, if it has that method, so that http.Client.CloseIdleConnections
// reaches it.
func (t *RoundTripper) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
