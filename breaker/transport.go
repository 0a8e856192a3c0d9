package breaker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
// A request that is the caller's mistake never reaches a breaker and
// counts against no host: RoundTrip closes its body and returns the error
// net/http's Transport returns for it (a nil URL or Header, an invalid
// method, header field or port, no host). A request whose scheme is
// neither http nor https goes to the base RoundTripper as it is, past
// the breakers, so that its error (unsupported protocol scheme) or an
// alternate protocol the base may have registered is its own affair.
//
// By default the breaker's key is the request's host, normalised: lower
// case, with the scheme's default port made explicit, so that
// LOCALHOST:9200 and localhost:9200 share a breaker, and so do
// http://es and http://es:80.
//
// A RoundTripper is safe for concurrent use by multiple goroutines.
type RoundTripper struct {
	base     http.RoundTripper
	group    *Group
	key      func(*http.Request) string // nil: the normalised host
	failure  func(code int) bool
	hosts    atomic.Pointer[map[hostKey]string] // normalised hosts of hosts written otherwise
	hostsMu  sync.Mutex                         // serialises writers of hosts
	maxHosts int
}

type hostKey struct {
	https bool
	host  string
}

// maxNormalHosts bounds the cache of normalised host names.
const maxNormalHosts = 1024

// NewTransport returns a RoundTripper sending requests through base
// (http.DefaultTransport if nil), with breakers configured by opts:
// breaker, keyed and transport options all apply.
func NewTransport(base http.RoundTripper, opts ...TransportOption) (*RoundTripper, error) {
	c, err := build(opts, TransportOption.applyTransport)
	if err != nil {
		return nil, err
	}
	g := newGroup(c)
	if base == nil {
		base = http.DefaultTransport
	}
	t := &RoundTripper{base: base, group: g, key: c.key, failure: c.failure, maxHosts: maxNormalHosts}
	t.hosts.Store(&map[hostKey]string{})
	return t, nil
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
	if req.URL != nil && req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return t.base.RoundTrip(req)
	}
	if err := checkRequest(req); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	var name string
	if t.key != nil {
		name = t.key(req)
	} else {
		name = t.normalHost(req.URL.Scheme == "https", req.URL.Host)
	}
	b := t.group.Get(name)
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

// checkRequest returns the error net/http's Transport returns for a
// request that cannot be sent, before it touches the network, or nil.
func checkRequest(req *http.Request) error {
	switch {
	case req.URL == nil:
		return errors.New("http: nil Request.URL")
	case req.Header == nil:
		return errors.New("http: nil Request.Header")
	case req.Method != "" && !isToken(req.Method):
		return fmt.Errorf("net/http: invalid method %q", req.Method)
	case req.URL.Host == "":
		return errors.New("http: no Host in request URL")
	}
	if err := checkHeader(req.Header); err != "" {
		return fmt.Errorf("net/http: invalid header %s", err)
	}
	if err := checkHeader(req.Trailer); err != "" {
		return fmt.Errorf("net/http: invalid trailer %s", err)
	}
	if port, ok := portOf(req.URL.Host); ok && !validPort(port) {
		return fmt.Errorf("breaker: invalid port %q in request URL host %q", port, req.URL.Host)
	}
	return nil
}

func checkHeader(h http.Header) string {
	for k, vs := range h {
		if !isToken(k) {
			return fmt.Sprintf("field name %q", k)
		}
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
					return fmt.Sprintf("field value for %q", k)
				}
			}
		}
	}
	return ""
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// portOf returns the port of host ("es:9200", "[::1]:80"), if it has a
// colon after its last bracket.
func portOf(host string) (string, bool) {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || i < strings.LastIndexByte(host, ']') {
		return "", false
	}
	return host[i+1:], true
}

func validPort(p string) bool {
	if p == "" {
		return true // "es:" means the default port
	}
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// normalHost returns host in lower case with an explicit port. A host
// already written so is returned as is; others are normalised once and
// cached, so that the common case allocates nothing.
func (t *RoundTripper) normalHost(https bool, host string) string {
	if isNormal(host) {
		return host
	}
	k := hostKey{https, host}
	if n, ok := (*t.hosts.Load())[k]; ok {
		return n
	}
	n := normalise(https, host)
	t.hostsMu.Lock()
	old := *t.hosts.Load()
	if len(old) < t.maxHosts {
		m := maps.Clone(old)
		m[k] = n
		t.hosts.Store(&m)
	}
	t.hostsMu.Unlock()
	return n
}

func isNormal(host string) bool {
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return false
		}
	}
	p, ok := portOf(host)
	return ok && p != ""
}

func normalise(https bool, host string) string {
	host = strings.ToLower(host)
	if p, ok := portOf(host); ok {
		if p != "" {
			return host
		}
		host = host[:len(host)-1]
	}
	if https {
		return host + ":443"
	}
	return host + ":80"
}

// CloseIdleConnections closes the idle connections of the underlying
// transport, if it has that method, so that http.Client.CloseIdleConnections
// reaches it.
func (t *RoundTripper) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
