package breaker

import (
	"context"
	"net/http"
)

// RoundTripper is an [http.RoundTripper] that puts a breaker in front of
// every request, one breaker per host by default (see [WithKey]). Make one
// with [NewTransport] or [Transport].
//
// Outcomes: a response with a failure status ([WithFailureStatus]; 5xx
// and 429 by default) is a failure and any other response a success; a
// transport error is a failure, unless the request's context was canceled,
// which counts as nothing. The response is returned to the caller either
// way. A rejected request never touches the network: RoundTrip closes its
// body and returns a [*RejectedError] naming the breaker (the host),
// matching [ErrServiceUnavailable].
//
// A RoundTripper is safe for concurrent use by multiple goroutines.
type RoundTripper struct {
	base    http.RoundTripper
	group   *Group
	key     func(*http.Request) string
	failure func(code int) bool
}

// NewTransport returns a RoundTripper sending requests through base
// (http.DefaultTransport if nil), with breakers configured by opts:
// breaker, group and transport options all apply.
func NewTransport(base http.RoundTripper, opts ...TransportOption) (*RoundTripper, error) {
	c, err := build(opts, TransportOption.applyTransport)
	if err != nil {
		return nil, err
	}
	g := newGroup(c)
	if base == nil {
		base = http.DefaultTransport
	}
	return &RoundTripper{base: base, group: g, key: c.key, failure: c.failure}, nil
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

// Group returns the breakers of the RoundTripper, by key, for [Breaker.Stats].
func (t *RoundTripper) Group() *Group { return t.group }

// RoundTrip implements [http.RoundTripper].
func (t *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	b := t.group.Get(t.key(req))
	p, err := b.Allow()
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil:
		if req.Context().Err() != context.Canceled {
			p.Done(err)
		}
	case t.failure(resp.StatusCode):
		p.Reject()
	default:
		p.Accept()
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
