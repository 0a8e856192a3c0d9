package breaker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"
)

// Clock tells the time. [WithClock] injects one so tests can drive a
// breaker deterministically; any type with this method fits, so one fake
// clock serves every levee module. A Clock must be safe for concurrent use
// if the breaker is.
type Clock interface {
	Now() time.Time
}

// Defaults of the tunables, after the Google SRE book's client-side
// throttling.
const (
	DefaultK             = 1.5
	DefaultWindow        = 10 * time.Second
	DefaultBuckets       = 40
	DefaultProtection    = 5
	DefaultProbeInterval = 500 * time.Millisecond
	DefaultMaxBreakers   = 1024
	DefaultIdleTimeout   = 10 * time.Minute
)

const (
	minBucket  = time.Millisecond
	maxBuckets = 1 << 16
)

// Option configures [New]. Every option of [BreakerOption] type is one,
// and so is [WithName]. The options of the three constructors are typed,
// so that an option that does not apply does not compile:
//
//   - [BreakerOption] (WithK, WithWindow, WithClock, ...) configures a
//     breaker and fits [New], [NewGroup] and [NewTransport] (and
//     [Transport]), where it configures every breaker of the group.
//   - [WithName] fits [New] only: a Group's breakers are named by their
//     keys.
//   - [KeyedOption] ([WithMaxBreakers], [WithIdleTimeout]) configures the
//     set of breakers of a Group and fits [NewGroup] and [NewTransport].
//   - [WithKey] and [WithFailureStatus] fit [NewTransport] only.
//
// Options are values: the last of a kind wins, and an option holds no
// state, so one may configure any number of constructors. A constructor
// validates them all and returns an error naming every invalid value.
type Option interface{ applyBreaker(*config) }

// GroupOption configures [NewGroup]: a [BreakerOption] or a [KeyedOption].
type GroupOption interface{ applyGroup(*config) }

// TransportOption configures [NewTransport] and [Transport]: a
// [BreakerOption], a [KeyedOption], [WithKey] or [WithFailureStatus].
type TransportOption interface{ applyTransport(*config) }

// BreakerOption configures a breaker: one made by [New], or every breaker
// of a [Group] or a [RoundTripper]. It is an [Option], a [GroupOption] and
// a [TransportOption].
type BreakerOption struct{ f func(*config) }

func (o BreakerOption) applyBreaker(c *config)   { apply(o.f, c, "BreakerOption") }
func (o BreakerOption) applyGroup(c *config)     { apply(o.f, c, "BreakerOption") }
func (o BreakerOption) applyTransport(c *config) { apply(o.f, c, "BreakerOption") }

// apply runs an option's function; the zero value of an exported option
// type has none, and is refused rather than ignored.
func apply(f func(*config), c *config, typ string) {
	if f == nil {
		c.fail("zero %s (make options with the With... functions)", typ)
		return
	}
	f(c)
}

// KeyedOption configures the set of breakers a [Group] (or the group of a
// [RoundTripper]) keeps. It is a [GroupOption] and a [TransportOption],
// not an [Option].
type KeyedOption struct{ f func(*config) }

func (o KeyedOption) applyGroup(c *config)     { apply(o.f, c, "KeyedOption") }
func (o KeyedOption) applyTransport(c *config) { apply(o.f, c, "KeyedOption") }

type nameOption string

func (o nameOption) applyBreaker(c *config) { c.name = string(o) }

type transportOption func(*config)

func (o transportOption) applyTransport(c *config) { o(c) }

type config struct {
	k          float64
	window     time.Duration
	buckets    int
	protection float64
	probe      time.Duration
	slow       time.Duration
	clock      Clock
	rand       func() float64
	acceptable func(error) bool
	hook       func(Event)
	logger     *slog.Logger
	name       string

	maxBreakers int
	idle        time.Duration

	key     func(*http.Request) string
	failure func(code int) bool

	errs []error
}

func defaultConfig() config {
	return config{
		k:           DefaultK,
		window:      DefaultWindow,
		buckets:     DefaultBuckets,
		protection:  DefaultProtection,
		probe:       DefaultProbeInterval,
		maxBreakers: DefaultMaxBreakers,
		idle:        DefaultIdleTimeout,
		failure:     failureStatus,
	}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("breaker: "+format, args...))
}

// build applies opts to the defaults and validates the result.
func build[O any](opts []O, apply func(O, *config)) (config, error) {
	c := defaultConfig()
	for _, o := range opts {
		if any(o) == nil {
			c.fail("nil option")
			continue
		}
		apply(o, &c)
	}
	if len(c.errs) > 0 {
		return c, errors.Join(c.errs...)
	}
	if c.window/time.Duration(c.buckets) < minBucket {
		return c, fmt.Errorf("breaker: window %v split into %d buckets gives buckets shorter than %v", c.window, c.buckets, minBucket)
	}
	return c, nil
}

// WithK sets the multiplier K of the throttling formula: the breaker
// rejects only once requests exceed K times the accepts, so with K = 1.5 it
// tolerates up to a third of the calls failing before it rejects any.
// Smaller is more aggressive; K must be at least 1. Default [DefaultK].
func WithK(k float64) BreakerOption {
	return BreakerOption{func(c *config) {
		if !(k >= 1) || math.IsInf(k, 0) {
			c.fail("K must be a finite number of at least 1, got %v", k)
			return
		}
		c.k = k
	}}
}

// WithWindow sets the length of the rolling window the breaker remembers
// outcomes over. It must be positive. Default [DefaultWindow].
func WithWindow(d time.Duration) BreakerOption {
	return BreakerOption{func(c *config) {
		if d <= 0 {
			c.fail("window must be positive, got %v", d)
			return
		}
		c.window = d
	}}
}

// WithBuckets sets how many buckets the window is split into; the window
// slides one bucket at a time. It must be between 1 and 65536, and each
// bucket at least a millisecond long. Default [DefaultBuckets].
func WithBuckets(n int) BreakerOption {
	return BreakerOption{func(c *config) {
		if n < 1 || n > maxBuckets {
			c.fail("buckets must be between 1 and %d, got %d", maxBuckets, n)
			return
		}
		c.buckets = n
	}}
}

// WithProtection sets how many failed requests in the window the breaker
// lets pass before it rejects anything, so a quiet service is not throttled
// by one or two errors. It must not be negative. Default
// [DefaultProtection].
func WithProtection(n float64) BreakerOption {
	return BreakerOption{func(c *config) {
		if !(n >= 0) || math.IsInf(n, 0) {
			c.fail("protection must be a finite number of at least 0, got %v", n)
			return
		}
		c.protection = n
	}}
}

// WithProbeInterval sets the longest time the breaker goes without letting
// a call through while it rejects almost everything (a rejection
// probability of 0.9 or more): once that long has passed since the last
// admitted call, the next call is admitted whatever the odds, so the
// breaker keeps learning whether the dependency has recovered. Below 0.9
// the formula alone admits at least one call in ten, and the probe stays
// out of its way, so that calls at low traffic, each a probe interval
// after the last, are still throttled. It must be positive. Default
// [DefaultProbeInterval].
func WithProbeInterval(d time.Duration) BreakerOption {
	return BreakerOption{func(c *config) {
		if d <= 0 {
			c.fail("probe interval must be positive, got %v", d)
			return
		}
		c.probe = d
	}}
}

// WithSlowCall makes a successful call that took longer than threshold
// count as a failure: a dependency that answers, but too late, is failing
// its callers. The threshold must be positive. By default duration does not
// matter.
func WithSlowCall(threshold time.Duration) BreakerOption {
	return BreakerOption{func(c *config) {
		if threshold <= 0 {
			c.fail("slow-call threshold must be positive, got %v", threshold)
			return
		}
		c.slow = threshold
	}}
}

// WithClock sets the clock the breaker reads, one read per call (two with
// [WithSlowCall]). By default it is the system's monotonic clock.
func WithClock(clk Clock) BreakerOption {
	return BreakerOption{func(c *config) {
		if clk == nil {
			c.fail("nil Clock")
			return
		}
		c.clock = clk
	}}
}

// WithRand sets the source of the random numbers in [0, 1) the breaker
// draws from while it throttles. It is called concurrently unless the
// breaker is used from one goroutine only. By default it is
// math/rand/v2's Float64, which is safe for concurrent use and does not
// lock.
func WithRand(f func() float64) BreakerOption {
	return BreakerOption{func(c *config) {
		if f == nil {
			c.fail("nil rand function")
			return
		}
		c.rand = f
	}}
}

// WithAcceptable marks errors that are answers rather than failures:
// Elasticsearch's 404 for a missing document, go-redis's redis.Nil. A call
// returning an error for which acceptable reports true counts as a success.
// nil errors are always successes and the caller's own context.Canceled is
// never a failure; context.DeadlineExceeded is a failure unless acceptable
// says otherwise.
func WithAcceptable(acceptable func(err error) bool) BreakerOption {
	return BreakerOption{func(c *config) {
		if acceptable == nil {
			c.fail("nil acceptable function")
			return
		}
		c.acceptable = acceptable
	}}
}

// WithEventHook sets a function called when a breaker starts or stops
// throttling. The state is checked once per bucket, so the hook runs at
// most once per transition and at most once per bucket. It is called on the
// goroutine of the call that noticed the change, outside any lock of the
// breaker; it should return quickly.
func WithEventHook(hook func(Event)) BreakerOption {
	return BreakerOption{func(c *config) {
		if hook == nil {
			c.fail("nil event hook")
			return
		}
		c.hook = hook
	}}
}

// WithLogger logs when a breaker starts throttling (at Warn, with the
// rejection probability) and when it stops (at Info). Like the event hook,
// it is told at most once per transition and once per bucket, so an
// overload does not flood the log. By default nothing is logged.
func WithLogger(l *slog.Logger) BreakerOption {
	return BreakerOption{func(c *config) {
		if l == nil {
			c.fail("nil logger")
			return
		}
		c.logger = l
	}}
}

// WithName names a breaker made by [New]; the name appears in its errors
// and events. Breakers of a [Group] are named by their key instead.
func WithName(name string) Option { return nameOption(name) }

// WithMaxBreakers bounds how many breakers a [Group] holds. When a new name
// would exceed it, breakers idle for longer than the idle timeout go first,
// then the least recently used one. It must be at least 1. Default
// [DefaultMaxBreakers].
func WithMaxBreakers(n int) KeyedOption {
	return KeyedOption{func(c *config) {
		if n < 1 {
			c.fail("max breakers must be at least 1, got %d", n)
			return
		}
		c.maxBreakers = n
	}}
}

// WithIdleTimeout sets how long a breaker of a [Group] may go unused before
// the group drops it; a dropped name gets a fresh breaker on its next use.
// The group looks for idle breakers when a new name arrives, at most once
// per idle timeout (the look visits every breaker), so a breaker may stay
// up to twice the timeout, or longer if no new name arrives. It must be
// positive. Default [DefaultIdleTimeout].
func WithIdleTimeout(d time.Duration) KeyedOption {
	return KeyedOption{func(c *config) {
		if d <= 0 {
			c.fail("idle timeout must be positive, got %v", d)
			return
		}
		c.idle = d
	}}
}

// WithKey sets how [NewTransport] picks the breaker for a request. By
// default it is the request's host with its port, in lower case and with
// the scheme's default port made explicit (http://ES-1 → es-1:80), one
// breaker per host; key by index or path prefix for finer isolation. key
// is called only for http and https requests that pass net/http's checks.
func WithKey(key func(req *http.Request) string) TransportOption {
	return transportOption(func(c *config) {
		if key == nil {
			c.fail("nil key function")
			return
		}
		c.key = key
	})
}

// WithFailureStatus sets which response status codes count as failures of
// the server. By default those are 5xx and 429 Too Many Requests; every
// other status, 404 included, is an answer and counts as a success.
func WithFailureStatus(failure func(code int) bool) TransportOption {
	return transportOption(func(c *config) {
		if failure == nil {
			c.fail("nil failure-status function")
			return
		}
		c.failure = failure
	})
}

func failureStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests
}
