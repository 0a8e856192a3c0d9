package shedding

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// MaxRetryAfter is the longest Retry-After [WithRetryAfter] accepts.
const MaxRetryAfter = time.Hour

// MiddlewareOption configures [Middleware] and [NewMiddleware]. Options are
// values, the last of a kind wins; they do not fit [New].
type MiddlewareOption interface {
	applyMiddleware(*middlewareConfig)
}

type middlewareConfig struct {
	classify   func(*http.Request) Priority
	retryAfter time.Duration
	failure    func(code int) bool
	errs       []error
}

type middlewareFunc func(*middlewareConfig)

func (f middlewareFunc) applyMiddleware(c *middlewareConfig) { f(c) }

// WithClassifier sets how the middleware picks a request's priority class,
// for example from a header or the route. It is called once per request.
// By default every request is [Default].
func WithClassifier(classify func(*http.Request) Priority) MiddlewareOption {
	return middlewareFunc(func(c *middlewareConfig) {
		if classify == nil {
			c.errs = append(c.errs, errors.New("shedding: nil classifier"))
			return
		}
		c.classify = classify
	})
}

// WithRetryAfter sets the Retry-After of a shed request's 503, rounded up to
// whole seconds. It must be between 1 s and [MaxRetryAfter]. Default 1 s,
// the default cool-off.
func WithRetryAfter(d time.Duration) MiddlewareOption {
	return middlewareFunc(func(c *middlewareConfig) {
		if d < time.Second || d > MaxRetryAfter {
			c.errs = append(c.errs, fmt.Errorf("shedding: retry-after must be between 1s and %v, got %v", MaxRetryAfter, d))
			return
		}
		c.retryAfter = d
	})
}

// WithFailureStatus sets which status codes written by the inner handler
// count as failures: their round trip is not counted, so that fast errors
// do not make the shedder think the server fast. By default, 5xx.
func WithFailureStatus(failure func(code int) bool) MiddlewareOption {
	return middlewareFunc(func(c *middlewareConfig) {
		if failure == nil {
			c.errs = append(c.errs, errors.New("shedding: nil failure-status function"))
			return
		}
		c.failure = failure
	})
}

// newMiddlewareConfig applies opts to the defaults of both middlewares
// (Retry-After 1 s, 5xx are failures) and joins every problem, a nil guard
// (named guard) included, into one error.
func newMiddlewareConfig(nilGuard bool, guard string, opts []MiddlewareOption) (middlewareConfig, error) {
	c := middlewareConfig{
		retryAfter: time.Second,
		failure:    func(code int) bool { return code >= 500 },
	}
	if nilGuard {
		c.errs = append(c.errs, errors.New("shedding: nil "+guard))
	}
	for _, o := range opts {
		if o == nil {
			c.errs = append(c.errs, errors.New("shedding: nil MiddlewareOption"))
			continue
		}
		o.applyMiddleware(&c)
	}
	return c, errors.Join(c.errs...)
}

// NewMiddleware returns HTTP middleware that asks s before serving each
// request: a shed request gets 503 Service Unavailable with a Retry-After
// header and never reaches the inner handler. An admitted request that the
// inner handler answers with a failure status (5xx by default) or by
// panicking counts as a failure; the panic goes on unchanged. NewMiddleware
// returns an error describing every invalid option.
func NewMiddleware(s *Shedder, opts ...MiddlewareOption) (func(http.Handler) http.Handler, error) {
	c, err := newMiddlewareConfig(s == nil, "Shedder", opts)
	if err != nil {
		return nil, err
	}
	ra := retryAfter(c.retryAfter)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := Default
			if c.classify != nil {
				p = c.classify(r)
			}
			tok, err := s.Allow(p)
			if err != nil {
				writeOverloaded(w, ra)
				return
			}
			sw := &statusWriter{ResponseWriter: w}
			done := false
			defer func() {
				if !done { // the handler panicked or called runtime.Goexit
					tok.Fail()
				}
			}()
			next.ServeHTTP(sw, r)
			done = true
			if c.failure(sw.status()) {
				tok.Fail()
			} else {
				tok.Pass()
			}
		})
	}, nil
}

// Middleware is [NewMiddleware] for options known to be valid: it panics,
// naming the invalid option, if they are not.
func Middleware(s *Shedder, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	m, err := NewMiddleware(s, opts...)
	if err != nil {
		panic(err)
	}
	return m
}

// statusWriter remembers the status code the inner handler writes.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets [http.ResponseController] reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on, for streaming handlers.
func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
