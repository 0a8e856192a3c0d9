package shedding

import (
	"context"
	"net/http"
)

// NewLimiterMiddleware returns HTTP middleware that serves each request
// under a permit of l, so that the handlers behind it run at most l's limit
// at a time: a rejected request gets 503 Service Unavailable with a
// Retry-After header and never reaches the handler. With [WithMaxWait] on
// l, a request may wait for a permit; a client that leaves while waiting
// gets no answer. It takes the options of the shedder's middleware:
// [WithClassifier], [WithRetryAfter] and [WithFailureStatus].
//
// The handler's latency is the sample. A 503 or 504 written by the handler,
// or a request whose context's deadline passed, is an overload signal;
// another failure status (5xx by default) and a request canceled by its
// client are neutral. If the handler panics the permit is released and the
// panic goes on. NewLimiterMiddleware returns an error describing every
// invalid option.
func NewLimiterMiddleware(l *Limiter, opts ...MiddlewareOption) (func(http.Handler) http.Handler, error) {
	c, err := newMiddlewareConfig(l == nil, "Limiter", opts)
	if err != nil {
		return nil, err
	}
	ra := retryAfter(c.retryAfter)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := Default
			if c.classify != nil {
				if q := c.classify(r); q.Valid() {
					p = q
				}
			}
			permit, err := l.AcquirePriority(r.Context(), p)
			if err != nil {
				if r.Context().Err() == nil {
					writeOverloaded(w, ra)
				}
				return
			}
			sw := &statusWriter{ResponseWriter: w}
			done := false
			defer func() {
				if !done { // the handler panicked or called runtime.Goexit
					permit.Release()
				}
			}()
			next.ServeHTTP(sw, r)
			done = true
			code := sw.status()
			switch ctxErr := r.Context().Err(); {
			case ctxErr == context.DeadlineExceeded,
				code == http.StatusServiceUnavailable, code == http.StatusGatewayTimeout:
				permit.Drop()
			case ctxErr == context.Canceled, c.failure(code):
				permit.Release()
			default:
				permit.Done(nil)
			}
		})
	}, nil
}

// LimiterMiddleware is [NewLimiterMiddleware] for options known to be
// valid: it panics, naming the invalid option, if they are not.
func LimiterMiddleware(l *Limiter, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	m, err := NewLimiterMiddleware(l, opts...)
	if err != nil {
		panic(err)
	}
	return m
}
