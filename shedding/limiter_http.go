package shedding

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// DefaultLimiterRetryAfter is the Retry-After of [LimiterMiddleware]'s 503
// by default.
const DefaultLimiterRetryAfter = time.Second

// LimiterMiddlewareOption configures [LimiterMiddleware]:
// [WithLimiterRetryAfter] and [WithHandlerPriority].
type LimiterMiddlewareOption interface {
	applyLimiterMiddleware(*limiterMiddlewareConfig)
}

type limiterMiddlewareConfig struct {
	retryAfter time.Duration
	priority   func(*http.Request) Priority
	err        error
}

type limiterMiddlewareOption func(*limiterMiddlewareConfig)

func (f limiterMiddlewareOption) applyLimiterMiddleware(c *limiterMiddlewareConfig) { f(c) }

// WithLimiterRetryAfter sets the Retry-After of a rejection, rounded up to
// whole seconds, between 1 s and 1 h. Default [DefaultLimiterRetryAfter].
func WithLimiterRetryAfter(d time.Duration) LimiterMiddlewareOption {
	return limiterMiddlewareOption(func(c *limiterMiddlewareConfig) {
		if d < time.Second || d > time.Hour {
			c.err = limiterErrorf("retry-after must be between 1s and 1h, got %v", d)
			return
		}
		c.retryAfter = d
	})
}

// WithHandlerPriority sets how [LimiterMiddleware] classes a request; by
// default every request is of the [Default] class. A request classed with
// an invalid Priority is served as [Default].
func WithHandlerPriority(priority func(req *http.Request) Priority) LimiterMiddlewareOption {
	return limiterMiddlewareOption(func(c *limiterMiddlewareConfig) {
		if priority == nil {
			c.err = limiterErrorf("nil handler-priority function")
			return
		}
		c.priority = priority
	})
}

// LimiterMiddleware returns HTTP middleware that serves each request under
// a permit of l, so that the handlers behind it run at most l's limit at a
// time: a rejected request gets 503 Service Unavailable with a Retry-After
// header and never reaches the handler. With [WithMaxWait] on l, a request
// may wait for a permit (its context ends the wait).
//
// The latency of the handler is the sample; a 503 or 504 written by the
// handler, or a request whose context's deadline passed, is an overload
// signal; a request canceled by its client is neutral. If the handler
// panics the permit is released and the panic goes on. It returns an error
// if an option is invalid or l is nil.
func LimiterMiddleware(l *Limiter, opts ...LimiterMiddlewareOption) (func(http.Handler) http.Handler, error) {
	c := limiterMiddlewareConfig{retryAfter: DefaultLimiterRetryAfter}
	if l == nil {
		return nil, limiterErrorf("nil Limiter")
	}
	for _, o := range opts {
		if o == nil {
			return nil, limiterErrorf("nil LimiterMiddlewareOption")
		}
		o.applyLimiterMiddleware(&c)
		if c.err != nil {
			return nil, c.err
		}
	}
	retry := strconv.FormatInt(int64((c.retryAfter+time.Second-1)/time.Second), 10)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := Default
			if c.priority != nil {
				if q := c.priority(r); q.Valid() {
					p = q
				}
			}
			permit, err := l.AcquirePriority(r.Context(), p)
			if err != nil {
				if r.Context().Err() != nil {
					return // the client left while waiting
				}
				w.Header().Set("Retry-After", retry)
				http.Error(w, "service overloaded, retry later", http.StatusServiceUnavailable)
				return
			}
			sw := &limiterStatusWriter{ResponseWriter: w}
			done := false
			defer func() {
				if !done {
					permit.Release()
				}
			}()
			next.ServeHTTP(sw, r)
			done = true
			switch ctxErr := r.Context().Err(); {
			case ctxErr == context.Canceled:
				permit.Release()
			case ctxErr == context.DeadlineExceeded,
				sw.code == http.StatusServiceUnavailable, sw.code == http.StatusGatewayTimeout:
				permit.Drop()
			default:
				permit.Done(nil)
			}
		})
	}, nil
}

// limiterStatusWriter remembers the status code a handler wrote.
type limiterStatusWriter struct {
	http.ResponseWriter
	code int
}

func (w *limiterStatusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *limiterStatusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *limiterStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func limiterErrorf(format string, args ...any) error {
	return fmt.Errorf("shedding: "+format, args...)
}
