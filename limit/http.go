package limit

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// MiddlewareOption configures [NewMiddleware].
type MiddlewareOption interface {
	applyMiddleware(*middlewareConfig)
}

type middlewareConfig struct {
	trusted    []string
	header     string
	v4bits     int
	v6bits     int
	keyFunc    func(*http.Request) (string, error)
	keyFuncSet bool
	cost       func(*http.Request) int
	costSet    bool
	reject     func(http.ResponseWriter, *http.Request, Result)
	rejectSet  bool
	onError    func(http.ResponseWriter, *http.Request, error)
	onErrorSet bool
	legacy     bool
	policy     string
}

type middlewareOption func(*middlewareConfig)

func (o middlewareOption) applyMiddleware(c *middlewareConfig) { o(c) }

// WithTrustedProxies lists the networks of the reverse proxies in front of
// the server, in CIDR notation ("10.0.0.0/8", "2001:db8::/32") or as single
// addresses. Only a request whose peer (RemoteAddr) is in one of them has
// its client address read from the proxy header ([WithProxyHeader]), which
// is walked from right to left, past trusted proxies, to the first address
// that is not one: the client as the outermost trusted proxy saw it. By
// default no proxy is trusted and the key is the peer's address: a header
// can then never change it. Entries the constructor cannot parse are
// errors.
func WithTrustedProxies(cidrs ...string) MiddlewareOption {
	cidrs = append([]string(nil), cidrs...)
	return middlewareOption(func(c *middlewareConfig) { c.trusted = cidrs })
}

// WithProxyHeader names the header the trusted proxies write the client
// address in: "X-Forwarded-For" (the default) or "Forwarded" (RFC 7239).
// Name the one your proxies maintain: a request can carry both, and the
// other one is whatever the client wrote.
func WithProxyHeader(name string) MiddlewareOption {
	return middlewareOption(func(c *middlewareConfig) { c.header = name })
}

// WithIPv4Prefix groups IPv4 clients by network of bits bits (1 to 32,
// default 32: one key per address).
func WithIPv4Prefix(bits int) MiddlewareOption {
	return middlewareOption(func(c *middlewareConfig) { c.v4bits = bits })
}

// WithIPv6Prefix groups IPv6 clients by network of bits bits (1 to 128,
// default 64: a subscriber usually holds a whole /64, so one key per
// address would give each of them 2^64 quotas).
func WithIPv6Prefix(bits int) MiddlewareOption {
	return middlewareOption(func(c *middlewareConfig) { c.v6bits = bits })
}

// WithKeyFunc replaces the client address as the key: per user, per API
// key, per tenant. An error from f goes to the error handler
// ([WithErrorHandler]) and the request is not served; mapping it to a
// response is the caller's choice. [Middleware.ClientIP] gives the address
// key for a key func that falls back to it.
func WithKeyFunc(f func(r *http.Request) (string, error)) MiddlewareOption {
	return middlewareOption(func(c *middlewareConfig) { c.keyFunc, c.keyFuncSet = f, true })
}

// WithCost sets how many units of the quota a request takes (weighted
// limits); by default 1. A cost below 0 or above the quota is rejected like
// a request over the quota, without Retry-After.
func WithCost(f func(r *http.Request) int) MiddlewareOption {
	return middlewareOption(func(c *middlewareConfig) { c.cost, c.costSet = f, true })
}

// WithRejectHandler sets the response to a rejected request. The rate-limit
// headers, Retry-After included, are set before f is called; f writes the
// status and body. By default: 429 Too Many Requests with a short text
// body.
func WithRejectHandler(f func(w http.ResponseWriter, r *http.Request, res Result)) MiddlewareOption {
	return middlewareOption(func(c *middlewareConfig) { c.reject, c.rejectSet = f, true })
}

// WithErrorHandler sets the response when the key func or the limiter
// returns an error (a Redis limiter that cannot decide, say). By default:
// 500 Internal Server Error, without the error's text.
func WithErrorHandler(f func(w http.ResponseWriter, r *http.Request, err error)) MiddlewareOption {
	return middlewareOption(func(c *middlewareConfig) { c.onError, c.onErrorSet = f, true })
}

// WithLegacyHeaders(true) also sends X-RateLimit-Limit,
// X-RateLimit-Remaining and X-RateLimit-Reset (seconds until the quota is
// full again), for clients that read only those.
func WithLegacyHeaders(on bool) MiddlewareOption {
	return middlewareOption(func(c *middlewareConfig) { c.legacy = on })
}

// WithPolicyName names the quota policy in the RateLimit and
// RateLimit-Policy headers (default "default"). It must be 1 to 64
// printable ASCII characters.
func WithPolicyName(name string) MiddlewareOption {
	return middlewareOption(func(c *middlewareConfig) { c.policy = name })
}

// Middleware limits the requests of an HTTP server per client: per address
// by default, per anything with [WithKeyFunc]. Every response carries the
// RateLimit and RateLimit-Policy header fields of
// draft-ietf-httpapi-ratelimit-headers (versions 10 and 11), as structured
// fields computed from the limiter's state:
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=7
//
// q is the quota per window of w seconds (a token bucket of rate r and
// burst b is stated as its rate over the shortest whole number of seconds
// that holds the refill time b/r), r what remains, and t the seconds until
// the quota is full again, or, on a rejection, until the request can pass.
// A rejected request gets 429 Too Many Requests and a Retry-After in whole
// seconds, rounded up: never earlier than the real next token.
//
// A Middleware is safe for concurrent use by multiple goroutines. Make one
// with [NewMiddleware].
type Middleware struct {
	l        KeyedLimiter
	keyed    *Keyed // l, when it is one: the address key then costs no string
	ip       clientIP
	keyFunc  func(*http.Request) (string, error)
	cost     func(*http.Request) int
	reject   func(http.ResponseWriter, *http.Request, Result)
	onError  func(http.ResponseWriter, *http.Request, error)
	legacy   bool
	quoted   string                      // policy name as an sf-string
	policies atomic.Pointer[policyValue] // last RateLimit-Policy value

	allowed, rejected, errored atomic.Int64
}

// MiddlewareStats counts the requests a [Middleware] has seen.
type MiddlewareStats struct {
	Allowed  int64 // passed to the next handler
	Rejected int64 // over their quota (or costing more than it)
	Errors   int64 // the key func or the limiter failed
}

// Stats returns the counts so far.
func (m *Middleware) Stats() MiddlewareStats {
	return MiddlewareStats{Allowed: m.allowed.Load(), Rejected: m.rejected.Load(), Errors: m.errored.Load()}
}

type policyValue struct {
	limit  int
	window time.Duration
	value  []string
}

// NewMiddleware returns middleware limiting requests with l: a [*Keyed],
// a limit/redislimit limiter, or any [KeyedLimiter].
func NewMiddleware(l KeyedLimiter, opts ...MiddlewareOption) (*Middleware, error) {
	if l == nil {
		return nil, errors.New("limit: nil KeyedLimiter")
	}
	cfg := middlewareConfig{header: "X-Forwarded-For", v4bits: 32, v6bits: 64, policy: "default"}
	for _, o := range opts {
		if o != nil {
			o.applyMiddleware(&cfg)
		}
	}
	keyed, _ := l.(*Keyed)
	m := &Middleware{l: l, keyed: keyed, legacy: cfg.legacy, keyFunc: cfg.keyFunc, cost: cfg.cost, reject: cfg.reject, onError: cfg.onError}
	var errs []error
	for _, s := range cfg.trusted {
		p, err := parsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("limit: trusted proxy %q is not an address or a CIDR network", s))
			continue
		}
		m.ip.trusted = append(m.ip.trusted, p)
	}
	switch http.CanonicalHeaderKey(cfg.header) {
	case "X-Forwarded-For":
		m.ip.header = headerXFF
	case "Forwarded":
		m.ip.header = headerForwarded
	default:
		errs = append(errs, fmt.Errorf("limit: proxy header must be X-Forwarded-For or Forwarded, got %q", cfg.header))
	}
	if cfg.v4bits < 1 || cfg.v4bits > 32 {
		errs = append(errs, fmt.Errorf("limit: IPv4 prefix must be between 1 and 32 bits, got %d", cfg.v4bits))
	}
	if cfg.v6bits < 1 || cfg.v6bits > 128 {
		errs = append(errs, fmt.Errorf("limit: IPv6 prefix must be between 1 and 128 bits, got %d", cfg.v6bits))
	}
	m.ip.v4bits, m.ip.v6bits = cfg.v4bits, cfg.v6bits
	if cfg.keyFuncSet && cfg.keyFunc == nil {
		errs = append(errs, errors.New("limit: nil key func"))
	}
	if cfg.costSet && cfg.cost == nil {
		errs = append(errs, errors.New("limit: nil cost func"))
	}
	if cfg.rejectSet && cfg.reject == nil {
		errs = append(errs, errors.New("limit: nil reject handler"))
	}
	if cfg.onErrorSet && cfg.onError == nil {
		errs = append(errs, errors.New("limit: nil error handler"))
	}
	if !validPolicyName(cfg.policy) {
		errs = append(errs, fmt.Errorf("limit: policy name must be 1 to 64 printable ASCII characters, got %q", cfg.policy))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	m.quoted = sfString(cfg.policy)
	if m.reject == nil {
		m.reject = defaultReject
	}
	if m.onError == nil {
		m.onError = defaultError
	}
	return m, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			return netip.Prefix{}, errors.New("IPv4-mapped prefix")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func validPolicyName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// sfString quotes s as a structured-field string (RFC 8941).
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// ClientIP returns the key the middleware gives r by default: the client
// address (see [WithTrustedProxies]) masked to its network, as text; the
// raw RemoteAddr if that is not an address.
func (m *Middleware) ClientIP(r *http.Request) string { return m.ip.key(r) }

// Wrap returns next behind the limit.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.serve(w, r, next)
	})
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	n := 1
	if m.cost != nil {
		n = m.cost(r)
	}
	var res Result
	var err error
	switch {
	case m.keyFunc != nil:
		key, kerr := m.keyFunc(r)
		if kerr != nil {
			m.errored.Add(1)
			m.onError(w, r, kerr)
			return
		}
		res, err = m.l.AllowN(r.Context(), key, n)
	case m.keyed != nil:
		// The key is hashed from a stack buffer: no string is made.
		var buf [64]byte
		res, err = m.keyed.s.allowHashed(m.keyed.hash(m.ip.appendKey(buf[:0], r)), n)
	default:
		res, err = m.l.AllowN(r.Context(), m.ip.key(r), n)
	}
	if err != nil {
		if !errors.Is(err, ErrInvalidCost) {
			m.errored.Add(1)
			m.onError(w, r, err)
			return
		}
		res.Allowed = false
		res.RetryAfter = Forever
	}
	h := w.Header()
	m.setHeaders(h, res)
	if !res.Allowed {
		if res.RetryAfter > 0 && res.RetryAfter < Forever {
			h["Retry-After"] = []string{strconv.FormatInt(ceilSeconds(res.RetryAfter), 10)}
		}
		m.rejected.Add(1)
		m.reject(w, r, res)
		return
	}
	m.allowed.Add(1)
	next.ServeHTTP(w, r)
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d-1)/time.Second) + 1
}

// setHeaders writes the rate-limit fields of res.
func (m *Middleware) setHeaders(h http.Header, res Result) {
	if res.Window > 0 && res.Limit > 0 {
		h["Ratelimit-Policy"] = m.policy(res.Limit, res.Window)
	}
	t := res.ResetAfter
	if !res.Allowed && res.RetryAfter < Forever {
		t = res.RetryAfter
	}
	remaining := max(res.Remaining, 0)
	var buf [96]byte
	b := append(buf[:0], m.quoted...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, int64(remaining), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(t), 10)
	h["Ratelimit"] = []string{string(b)}
	if m.legacy {
		h["X-Ratelimit-Limit"] = []string{strconv.Itoa(res.Limit)}
		h["X-Ratelimit-Remaining"] = []string{strconv.Itoa(remaining)}
		h["X-Ratelimit-Reset"] = []string{strconv.FormatInt(ceilSeconds(res.ResetAfter), 10)}
	}
}

// policy returns the RateLimit-Policy value for a quota of limit per
// window, from a one-entry cache: a limiter's policy rarely changes.
func (m *Middleware) policy(limit int, window time.Duration) []string {
	if p := m.policies.Load(); p != nil && p.limit == limit && p.window == window {
		return p.value
	}
	w := ceilSeconds(window)
	q := int64(limit)
	if time.Duration(w)*time.Second != window {
		q = int64(float64(limit) * float64(w) * float64(time.Second) / float64(window))
	}
	v := m.quoted + ";q=" + strconv.FormatInt(q, 10) + ";w=" + strconv.FormatInt(w, 10)
	p := &policyValue{limit: limit, window: window, value: []string{v}}
	m.policies.Store(p)
	return p.value
}

func defaultReject(w http.ResponseWriter, _ *http.Request, _ Result) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write([]byte("too many requests\n"))
}

func defaultError(w http.ResponseWriter, _ *http.Request, _ error) {
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}
