package shedding

import (
	"net/http"
	"strconv"
	"time"
)

// retryAfter renders d as the value of a Retry-After header: whole
// seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(max(s, 1)), 10)
}

// writeOverloaded answers 503 Service Unavailable with a Retry-After header
// (in seconds, as rendered by retryAfter), the answer of a server that
// turns a request away because it is overloaded. It is shared by the
// shedder's middleware and any other server-side guard of the package.
func writeOverloaded(w http.ResponseWriter, retryAfter string) {
	h := w.Header()
	h.Set("Retry-After", retryAfter)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(overloadedBody)
}

var overloadedBody = []byte("503 service unavailable: server overloaded, retry later\n")
