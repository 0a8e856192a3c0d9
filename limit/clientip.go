package limit

import (
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds the proxy hops a client address is looked for in; a
// longer chain of trusted addresses falls back to the peer's address.
const maxHops = 64

// proxyHeader is the header trusted proxies write the client address in.
type proxyHeader int

const (
	headerXFF proxyHeader = iota
	headerForwarded
)

// clientIP finds the client address of a request; see [WithTrustedProxies].
type clientIP struct {
	trusted []netip.Prefix
	header  proxyHeader
	v4bits  int
	v6bits  int
}

func (c *clientIP) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// key returns the rate-limit key of r: the client's address, masked to
// its network (/32 and /64 by default), as text.
func (c *clientIP) key(r *http.Request) string {
	var buf [64]byte
	return string(c.appendKey(buf[:0], r))
}

// appendKey appends the key of r to b.
func (c *clientIP) appendKey(b []byte, r *http.Request) []byte {
	peer, ok := parseHostPort(r.RemoteAddr)
	if !ok {
		return append(b, r.RemoteAddr...)
	}
	return c.appendAddr(b, c.client(peer, r.Header))
}

// client walks the proxy header from right to left, from the peer, past
// trusted proxies, to the first address that is not one. Anything it cannot
// read ends the walk at the peer.
func (c *clientIP) client(peer netip.Addr, h http.Header) netip.Addr {
	if len(c.trusted) == 0 || !c.isTrusted(peer) {
		return peer
	}
	var values []string
	if c.header == headerForwarded {
		values = h.Values("Forwarded")
	} else {
		values = h.Values("X-Forwarded-For")
	}
	last := peer
	hops := 0
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for len(v) > 0 {
			var elem string
			var ok bool
			if c.header == headerForwarded {
				v, elem, ok = lastForwardedElement(v)
			} else {
				v, elem = lastList(v)
				ok = true
			}
			if !ok {
				return peer
			}
			elem = strings.TrimSpace(elem)
			if elem == "" && c.header == headerXFF {
				continue // "a,,b": an empty member of a list is no hop
			}
			var a netip.Addr
			if c.header == headerForwarded {
				a, ok = forwardedFor(elem)
			} else {
				a, ok = parseLoose(elem)
			}
			if !ok {
				return peer
			}
			if hops++; hops > maxHops {
				return peer
			}
			if !c.isTrusted(a) {
				return a
			}
			last = a
		}
	}
	return last // every hop is trusted: the request came from inside
}

func (c *clientIP) appendAddr(b []byte, a netip.Addr) []byte {
	a = a.Unmap().WithZone("")
	bits := c.v6bits
	if a.Is4() {
		bits = c.v4bits
	}
	if bits == a.BitLen() {
		return a.AppendTo(b)
	}
	p, err := a.Prefix(bits)
	if err != nil { // cannot happen: bits is validated
		return a.AppendTo(b)
	}
	return p.AppendTo(b)
}

// parseHostPort reads RemoteAddr: "ip:port", "[ip]:port", or a bare IP.
func parseHostPort(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	return parseLoose(s)
}

// parseLoose reads an address as proxies write it in X-Forwarded-For or a
// Forwarded "for": "ip", "ip:port", "[ip]", "[ip]:port".
func parseLoose(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// lastList splits the last member off a comma-separated list.
func lastList(v string) (rest, elem string) {
	i := strings.LastIndexByte(v, ',')
	if i < 0 {
		return "", v
	}
	return v[:i], v[i+1:]
}

// lastForwardedElement splits the last element off a Forwarded header value
// (RFC 7239), honouring quoted strings. A backslash or an unbalanced quote
// is refused: those never come from a proxy writing an address.
func lastForwardedElement(v string) (rest, elem string, ok bool) {
	inQuote := false
	for i := len(v) - 1; i >= 0; i-- {
		switch v[i] {
		case '\\':
			return "", "", false
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				return v[:i], v[i+1:], true
			}
		}
	}
	if inQuote {
		return "", "", false
	}
	return "", v, true
}

// forwardedFor returns the address of the for= pair of a Forwarded element.
func forwardedFor(elem string) (netip.Addr, bool) {
	for len(elem) > 0 {
		var pair string
		if i := strings.IndexByte(elem, ';'); i >= 0 {
			pair, elem = elem[:i], elem[i+1:]
		} else {
			pair, elem = elem, ""
		}
		pair = strings.TrimSpace(pair)
		eq := strings.IndexByte(pair, '=')
		if eq < 0 || !strings.EqualFold(strings.TrimSpace(pair[:eq]), "for") {
			continue
		}
		val := strings.TrimSpace(pair[eq+1:])
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		return parseLoose(val)
	}
	return netip.Addr{}, false
}
