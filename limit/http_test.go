package limit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

func newKeyedBucket(t *testing.T, rate float64, burst int, opts ...KeyedOption) (*Keyed, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	b, err := NewTokenBucket(rate, burst, WithClock(clk))
	require.NoError(t, err)
	k, err := NewKeyed(b, opts...)
	require.NoError(t, err)
	return k, clk
}

func request(remote string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestMiddlewareHeadersTokenBucket(t *testing.T) {
	k, clk := newKeyedBucket(t, 100, 10)
	m, err := NewMiddleware(k, WithLegacyHeaders(true))
	require.NoError(t, err)
	h := m.Wrap(okHandler)
	for i := range 10 {
		w := serve(h, request("192.0.2.1:1234"))
		require.Equal(t, http.StatusNoContent, w.Code, "request %d", i)
		assert.Equal(t, `"default";q=100;w=1`, w.Header().Get("RateLimit-Policy"))
		assert.Equal(t, fmt.Sprintf(`"default";r=%d;t=1`, 9-i), w.Header().Get("RateLimit"))
		assert.Equal(t, strconv.Itoa(9-i), w.Header().Get("X-RateLimit-Remaining"))
		assert.Equal(t, "10", w.Header().Get("X-RateLimit-Limit"))
		assert.Empty(t, w.Header().Get("Retry-After"))
	}
	w := serve(h, request("192.0.2.1:1234"))
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.Equal(t, `"default";r=0;t=1`, w.Header().Get("RateLimit"))
	assert.Equal(t, "too many requests\n", w.Body.String())
	// The middleware's key is the one ClientIP names (it hashes the
	// address bytes without making a string).
	st, err := k.AllowAt(clk.Now(), m.ClientIP(request("192.0.2.1:1234")), 0)
	require.NoError(t, err)
	assert.Zero(t, st.Remaining)
	assert.Equal(t, 1, k.Len())
	// Another client is not affected.
	assert.Equal(t, http.StatusNoContent, serve(h, request("192.0.2.2:1234")).Code)
	v6 := request("[2001:db8:1:2::7]:443")
	serve(h, v6)
	st, _ = k.AllowAt(clk.Now(), "2001:db8:1:2::/64", 0)
	assert.Equal(t, 9, st.Remaining, "IPv6 keyed by its /64")
	clk.Add(10 * time.Millisecond)
	assert.Equal(t, http.StatusNoContent, serve(h, request("192.0.2.1:1234")).Code)
}

func TestMiddlewareHeadersWindow(t *testing.T) {
	clk := newFakeClock()
	fw, err := NewFixedWindow(100, time.Minute, WithClock(clk))
	require.NoError(t, err)
	k, err := NewKeyed(fw)
	require.NoError(t, err)
	m, err := NewMiddleware(k, WithPolicyName(`per "ip"`))
	require.NoError(t, err)
	h := m.Wrap(okHandler)
	for range 58 {
		serve(h, request("192.0.2.1:1"))
	}
	clk.Add(53 * time.Second)
	w := serve(h, request("192.0.2.1:1"))
	assert.Equal(t, `"per \"ip\"";q=100;w=60`, w.Header().Get("RateLimit-Policy"))
	assert.Equal(t, `"per \"ip\"";r=41;t=7`, w.Header().Get("RateLimit"))
}

func TestMiddlewareRetryAfterNeverEarly(t *testing.T) {
	// Over many configurations: after a rejection, waiting exactly
	// Retry-After seconds lets the same request through, and the real wait
	// is never longer than what the header says.
	rng := rand.New(rand.NewPCG(7, 7))
	for range 200 {
		rate := 0.01 + rng.Float64()*20
		burst := 1 + rng.IntN(5)
		k, clk := newKeyedBucket(t, rate, burst)
		m, err := NewMiddleware(k)
		require.NoError(t, err)
		h := m.Wrap(okHandler)
		clk.Add(time.Duration(rng.Int64N(int64(time.Second))))
		var w *httptest.ResponseRecorder
		for {
			w = serve(h, request("192.0.2.1:1"))
			if w.Code == http.StatusTooManyRequests {
				break
			}
		}
		secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
		require.NoError(t, err)
		real, _ := k.AllowAt(clk.Now(), "192.0.2.1", 0)
		assert.LessOrEqual(t, int64(real.ResetAfter-time.Duration(float64(burst-1)*1e9/rate)), int64(time.Duration(secs)*time.Second)+1, "rate %v burst %d", rate, burst)
		clk.Add(time.Duration(secs) * time.Second)
		assert.Equal(t, http.StatusNoContent, serve(h, request("192.0.2.1:1")).Code, "rate %v burst %d: after Retry-After %ds", rate, burst, secs)
	}
}

func TestMiddlewareForgedHeaderBuysNothing(t *testing.T) {
	for _, trusted := range [][]string{nil, {"10.0.0.0/8"}} {
		for _, header := range []string{"X-Forwarded-For", "Forwarded"} {
			k, _ := newKeyedBucket(t, 1, 5)
			m, err := NewMiddleware(k, WithTrustedProxies(trusted...), WithProxyHeader(header))
			require.NoError(t, err)
			h := m.Wrap(okHandler)
			passed := 0
			for i := range 1000 {
				forged := fmt.Sprintf("198.51.%d.%d", i/256, i%256)
				if header == "Forwarded" {
					forged = "for=" + forged
				}
				if serve(h, request("203.0.113.7:5555", header, forged)).Code == http.StatusNoContent {
					passed++
				}
			}
			assert.Equal(t, 5, passed, "trusted %v, %s: only the peer's burst", trusted, header)
			assert.Equal(t, 1, k.Len(), "one key: the peer")
		}
	}
}

func TestClientIP(t *testing.T) {
	trusted := []string{"10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.10"}
	tests := []struct {
		name    string
		header  string
		remote  string
		headers []string
		want    string
	}{
		{"no header", "", "198.51.100.1:9", nil, "198.51.100.1"},
		{"untrusted peer ignores header", "", "198.51.100.1:9", []string{"X-Forwarded-For", "1.2.3.4"}, "198.51.100.1"},
		{"trusted peer", "", "10.1.1.1:9", []string{"X-Forwarded-For", "1.2.3.4"}, "1.2.3.4"},
		{"single trusted address", "", "192.0.2.10:9", []string{"X-Forwarded-For", "1.2.3.4"}, "1.2.3.4"},
		{"right to left", "", "10.1.1.1:9", []string{"X-Forwarded-For", "6.6.6.6, 1.2.3.4, 10.2.2.2"}, "1.2.3.4"},
		{"forged left part", "", "10.1.1.1:9", []string{"X-Forwarded-For", "10.9.9.9, 1.2.3.4"}, "1.2.3.4"},
		{"several lines", "", "10.1.1.1:9", []string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "1.2.3.4, 10.3.3.3"}, "1.2.3.4"},
		{"all trusted", "", "10.1.1.1:9", []string{"X-Forwarded-For", "10.4.4.4, 10.3.3.3"}, "10.4.4.4"},
		{"garbage", "", "10.1.1.1:9", []string{"X-Forwarded-For", "1.2.3.4, nonsense"}, "10.1.1.1"},
		{"garbage beyond the client is not read", "", "10.1.1.1:9", []string{"X-Forwarded-For", "nonsense, 1.2.3.4"}, "1.2.3.4"},
		{"empty header", "", "10.1.1.1:9", []string{"X-Forwarded-For", ""}, "10.1.1.1"},
		{"port", "", "10.1.1.1:9", []string{"X-Forwarded-For", "1.2.3.4:567"}, "1.2.3.4"},
		{"ipv6 grouped by /64", "", "10.1.1.1:9", []string{"X-Forwarded-For", "2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"},
		{"bracketed ipv6 with port", "", "10.1.1.1:9", []string{"X-Forwarded-For", "[2001:db8:1:2::9]:80"}, "2001:db8:1:2::/64"},
		{"ipv6 peer", "", "[2001:db8:5:6:7::1]:443", nil, "2001:db8:5:6::/64"},
		{"ipv6 trusted peer", "", "[2001:db8:ffff:1::1]:443", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9"},
		{"mapped ipv4 peer", "", "[::ffff:198.51.100.1]:443", nil, "198.51.100.1"},
		{"zone", "", "[fe80::1%eth0]:443", nil, "fe80::/64"},
		{"remote without port", "", "198.51.100.1", nil, "198.51.100.1"},
		{"remote garbage", "", "@unix", []string{"X-Forwarded-For", "1.2.3.4"}, "@unix"},
		{"forwarded", "Forwarded", "10.1.1.1:9", []string{"Forwarded", `for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::/64"},
		{"forwarded trusted hop", "Forwarded", "10.1.1.1:9", []string{"Forwarded", `for=192.0.2.60, for=10.7.7.7`}, "192.0.2.60"},
		{"forwarded obfuscated", "Forwarded", "10.1.1.1:9", []string{"Forwarded", `for=_hidden`}, "10.1.1.1"},
		{"forwarded unknown", "Forwarded", "10.1.1.1:9", []string{"Forwarded", `for=192.0.2.60, for=unknown`}, "10.1.1.1"},
		{"forwarded quoted comma", "Forwarded", "10.1.1.1:9", []string{"Forwarded", `for="1.1.1.1,2.2.2.2"`}, "10.1.1.1"},
		{"forwarded unbalanced", "Forwarded", "10.1.1.1:9", []string{"Forwarded", `for="1.1.1.1`}, "10.1.1.1"},
		{"forwarded no for", "Forwarded", "10.1.1.1:9", []string{"Forwarded", `proto=https`}, "10.1.1.1"},
		{"forwarded ignores xff", "Forwarded", "10.1.1.1:9", []string{"X-Forwarded-For", "1.2.3.4"}, "10.1.1.1"},
		{"xff ignores forwarded", "", "10.1.1.1:9", []string{"Forwarded", "for=1.2.3.4"}, "10.1.1.1"},
	}
	for _, tc := range tests {
		opts := []MiddlewareOption{WithTrustedProxies(trusted...)}
		if tc.header != "" {
			opts = append(opts, WithProxyHeader(tc.header))
		}
		m, err := NewMiddleware(nopLimiter{}, opts...)
		require.NoError(t, err)
		assert.Equal(t, tc.want, m.ClientIP(request(tc.remote, tc.headers...)), tc.name)
	}

	long := strings.Repeat("10.0.0.1, ", 100) + "10.0.0.2"
	m, err := NewMiddleware(nopLimiter{}, WithTrustedProxies("10.0.0.0/8"), WithIPv4Prefix(24), WithIPv6Prefix(48))
	require.NoError(t, err)
	assert.Equal(t, "10.1.1.0/24", m.ClientIP(request("10.1.1.1:9", "X-Forwarded-For", long)), "a chain beyond 64 hops falls back to the peer")
	assert.Equal(t, "198.51.100.0/24", m.ClientIP(request("198.51.100.77:9")))
	assert.Equal(t, "2001:db8:1::/48", m.ClientIP(request("[2001:db8:1:2::1]:9")))
}

// nopLimiter admits everything; it stands for another KeyedLimiter, such
// as a redislimit one.
type nopLimiter struct{}

func (nopLimiter) AllowN(context.Context, string, int) (Result, error) {
	return Result{Allowed: true, Limit: 1, Remaining: 1}, nil
}

func randomHeader(rng *rand.Rand) string {
	const alphabet = "0123456789abcdefABCDEF.:,;=\"[]% \t_-xfor\\/"
	parts := []string{"for=", "1.2.3.4", "::1", "10.0.0.1", ", ", "[", "]", ":80", "\"", "unknown", "2001:db8::", "999.1.1.1", ";proto=http"}
	var b strings.Builder
	for range rng.IntN(12) {
		if rng.IntN(2) == 0 {
			b.WriteString(parts[rng.IntN(len(parts))])
		} else {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
	}
	if rng.IntN(10) == 0 {
		b.WriteByte(byte(rng.IntN(256)))
	}
	return b.String()
}

func TestMiddlewareRandomHeaders(t *testing.T) {
	// 10,000 random header values from 20 peers none of which is trusted:
	// nothing panics, and there are never more keys than peers.
	peers := make([]string, 20)
	for i := range peers {
		peers[i] = fmt.Sprintf("198.51.100.%d:%d", i+1, 1000+i)
	}
	peers[19] = "[2001:db8:aa::1]:443"
	for seed := uint64(1); seed <= 1; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		for _, trusted := range [][]string{nil, {"10.0.0.0/8", "::1/128"}} {
			for _, header := range []string{"X-Forwarded-For", "Forwarded"} {
				k, _ := newKeyedBucket(t, 1, 1_000_000)
				m, err := NewMiddleware(k, WithTrustedProxies(trusted...), WithProxyHeader(header))
				require.NoError(t, err)
				h := m.Wrap(okHandler)
				var w discardWriter
				r := &http.Request{Header: http.Header{}}
				r = r.WithContext(context.Background())
				for range 10_000 {
					r.RemoteAddr = peers[rng.IntN(len(peers))]
					r.Header["X-Forwarded-For"] = []string{randomHeader(rng)}
					r.Header["Forwarded"] = []string{randomHeader(rng), randomHeader(rng)}
					w.code = 0
					h.ServeHTTP(&w, r)
					require.Equal(t, http.StatusNoContent, w.code)
				}
				assert.LessOrEqual(t, k.Len(), len(peers), "seed %d, trusted %v, %s", seed, trusted, header)
			}
		}
	}
	// Behind a trusted proxy, a key is the proxy's or an address the
	// header holds; random garbage never makes a key of its own.
	rng := rand.New(rand.NewPCG(5, 5))
	m, err := NewMiddleware(nopLimiter{}, WithTrustedProxies("10.0.0.0/8"))
	require.NoError(t, err)
	for range 10_000 {
		v := randomHeader(rng)
		key := m.ClientIP(request("10.0.0.5:1", "X-Forwarded-For", v))
		if key == "10.0.0.5" {
			continue
		}
		addr, err := netip.ParseAddr(key)
		if err != nil {
			p, perr := netip.ParsePrefix(key)
			require.NoError(t, perr, "key %q from %q", key, v)
			addr = p.Addr()
		}
		assert.True(t, strings.Contains(v, strings.TrimSuffix(addr.String(), "::")) || addr.Is6(), "key %q from %q", key, v)
	}
}

func TestMiddlewareOptions(t *testing.T) {
	k, _ := newKeyedBucket(t, 1, 3)
	errBadKey := errors.New("no api key")
	var gotErr error
	var rejected Result
	m, err := NewMiddleware(k,
		WithKeyFunc(func(r *http.Request) (string, error) {
			if v := r.Header.Get("X-Api-Key"); v != "" {
				return v, nil
			}
			return "", errBadKey
		}),
		WithCost(func(r *http.Request) int { n, _ := strconv.Atoi(r.Header.Get("X-Cost")); return n }),
		WithRejectHandler(func(w http.ResponseWriter, _ *http.Request, res Result) {
			rejected = res
			w.WriteHeader(http.StatusServiceUnavailable)
		}),
		WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
			gotErr = err
			w.WriteHeader(http.StatusUnauthorized)
		}),
	)
	require.NoError(t, err)
	h := m.Wrap(okHandler)
	assert.Equal(t, http.StatusUnauthorized, serve(h, request("1.1.1.1:1")).Code)
	assert.ErrorIs(t, gotErr, errBadKey)
	assert.Equal(t, http.StatusNoContent, serve(h, request("1.1.1.1:1", "X-Api-Key", "a", "X-Cost", "2")).Code)
	w := serve(h, request("1.1.1.1:1", "X-Api-Key", "a", "X-Cost", "2"))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, time.Second, rejected.RetryAfter)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	w = serve(h, request("1.1.1.1:1", "X-Api-Key", "b", "X-Cost", "4"))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, "a cost over the quota is a rejection")
	assert.Equal(t, Forever, rejected.RetryAfter)
	assert.Empty(t, w.Header().Get("Retry-After"))

	assert.Equal(t, MiddlewareStats{Allowed: 1, Rejected: 2, Errors: 1}, m.Stats())

	failing := failingLimiter{}
	m2, err := NewMiddleware(failing)
	require.NoError(t, err)
	w = serve(m2.Wrap(okHandler), request("1.1.1.1:1"))
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.NotContains(t, w.Body.String(), "secret")
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

type failingLimiter struct{}

func (failingLimiter) AllowN(context.Context, string, int) (Result, error) {
	return Result{}, errors.New("redis at secret-host:6379 is down")
}

func TestMiddlewareInvalid(t *testing.T) {
	_, err := NewMiddleware(nil)
	assert.EqualError(t, err, "limit: nil KeyedLimiter")
	_, err = NewMiddleware(nopLimiter{},
		WithTrustedProxies("10.0.0.0/8", "nonsense", "1.2.3.4/99"),
		WithProxyHeader("X-Real-IP"),
		WithIPv4Prefix(0), WithIPv6Prefix(129),
		WithKeyFunc(nil), WithCost(nil), WithRejectHandler(nil), WithErrorHandler(nil),
		WithPolicyName("bad\nname"))
	assert.EqualError(t, err, strings.Join([]string{
		`limit: trusted proxy "nonsense" is not an address or a CIDR network`,
		`limit: trusted proxy "1.2.3.4/99" is not an address or a CIDR network`,
		`limit: proxy header must be X-Forwarded-For or Forwarded, got "X-Real-IP"`,
		`limit: IPv4 prefix must be between 1 and 32 bits, got 0`,
		`limit: IPv6 prefix must be between 1 and 128 bits, got 129`,
		`limit: nil key func`,
		`limit: nil cost func`,
		`limit: nil reject handler`,
		`limit: nil error handler`,
		`limit: policy name must be 1 to 64 printable ASCII characters, got "bad\nname"`,
	}, "\n"))
	m, err := NewMiddleware(nopLimiter{}, WithProxyHeader("forwarded"))
	require.NoError(t, err)
	assert.NotNil(t, m)
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:80", "1.2.3.4, 10.0.0.2", "for=1.2.3.4")
	f.Add("198.51.100.1:80", "garbage", `for="[2001:db8::1]:80";proto=http`)
	f.Add("[::1]:80", ",,,", `for=unknown, for="a,b"`)
	f.Add("", "", "")
	xff, err := NewMiddleware(nopLimiter{}, WithTrustedProxies("10.0.0.0/8", "::1"))
	require.NoError(f, err)
	fwd, err := NewMiddleware(nopLimiter{}, WithTrustedProxies("10.0.0.0/8", "::1"), WithProxyHeader("Forwarded"))
	require.NoError(f, err)
	none, err := NewMiddleware(nopLimiter{})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, remote, xffValue, fwdValue string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xffValue}, "Forwarded": {fwdValue}}}
		peerKey := none.ClientIP(r)
		for _, m := range []*Middleware{xff, fwd} {
			key := m.ClientIP(r)
			if key == peerKey {
				continue
			}
			// A key other than the peer's comes from a trusted peer and is
			// an address or a network.
			peer, ok := parseHostPort(remote)
			if !ok || !m.ip.isTrusted(peer) {
				t.Fatalf("untrusted peer %q got key %q", remote, key)
			}
			if _, err := netip.ParseAddr(key); err != nil {
				if _, err := netip.ParsePrefix(key); err != nil {
					t.Fatalf("key %q is neither an address nor a network", key)
				}
			}
		}
	})
}
