package redislimit

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Clock tells the time. [WithClock] injects one; any type with this method
// fits, so one fake clock serves every levee module. The Redis scripts never
// use it: they run on the server's clock. A Clock must be safe for
// concurrent use.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Defaults and documented ranges of the options.
const (
	DefaultPrefix        = "levee:rl:"
	DefaultTimeout       = 50 * time.Millisecond
	DefaultProbeInterval = 500 * time.Millisecond
	DefaultInstances     = 1
	DefaultMaxKeys       = 10000

	MinTimeout       = time.Millisecond
	MaxTimeout       = time.Minute
	MinProbeInterval = 10 * time.Millisecond
	MaxProbeInterval = time.Hour
	MaxInstances     = 100000
	MaxMaxKeys       = 1 << 24
	MaxLeaseBatch    = 1 << 16
	MaxPrefixLen     = 256
)

// Fallback is what a limiter does while Redis cannot be reached; see
// [WithFallback].
type Fallback int

const (
	// FallbackLocal decides with an in-process limiter of the levee limit
	// module at the global rate divided by the instance count
	// ([WithInstances]), so the fleet as a whole keeps about the global
	// limit. The default.
	FallbackLocal Fallback = iota
	// FallbackOpen allows every call.
	FallbackOpen
	// FallbackClosed denies every call, with a retry-after of one probe
	// interval.
	FallbackClosed
)

func (f Fallback) String() string {
	switch f {
	case FallbackLocal:
		return "local"
	case FallbackOpen:
		return "open"
	case FallbackClosed:
		return "closed"
	}
	return fmt.Sprintf("Fallback(%d)", int(f))
}

type config struct {
	prefix    string
	timeout   time.Duration
	probe     time.Duration
	fallback  Fallback
	instances int
	maxKeys   int
	lease     int
	clock     Clock
	hook      func(Event)
	logger    *slog.Logger

	errs []error
}

func defaultConfig() config {
	return config{
		prefix:    DefaultPrefix,
		timeout:   DefaultTimeout,
		probe:     DefaultProbeInterval,
		fallback:  FallbackLocal,
		instances: DefaultInstances,
		maxKeys:   DefaultMaxKeys,
		clock:     systemClock{},
	}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("redislimit: "+format, args...))
}

func (c *config) err() error { return errors.Join(c.errs...) }

// TokenOption configures [NewTokenBucket]. Every [Option] is a TokenOption;
// [WithLease] is one only.
type TokenOption interface{ applyToken(*config) }

// WindowOption configures [NewFixedWindow] and [NewSlidingWindow]. Every
// [Option] is a WindowOption.
type WindowOption interface{ applyWindow(*config) }

// Option configures every limiter of this package: it is both a
// [TokenOption] and a [WindowOption]. Options are values: the last of a kind
// wins, and one may configure any number of limiters.
type Option interface {
	TokenOption
	WindowOption
}

// opt is an Option that fits every constructor.
type opt func(*config)

func (o opt) applyToken(c *config)  { o(c) }
func (o opt) applyWindow(c *config) { o(c) }

// WithPrefix sets the prefix of the limiter's Redis keys. A key is the
// prefix followed by the caller's key in braces, "levee:rl:{1.2.3.4}", so
// Redis Cluster hashes only the caller's key. Limiters that must not share
// state need different prefixes. At most [MaxPrefixLen] bytes, without '{'
// or '}'. Default [DefaultPrefix].
func WithPrefix(prefix string) Option {
	return opt(func(c *config) {
		if len(prefix) > MaxPrefixLen || strings.ContainsAny(prefix, "{}") {
			c.fail("prefix must be at most %d bytes without '{' or '}', got %q", MaxPrefixLen, prefix)
			return
		}
		c.prefix = prefix
	})
}

// WithTimeout bounds how long a call waits for Redis before the fallback
// decides it (and the limiter switches to the fallback). Keep it shorter
// than the deadlines of the callers' contexts: a call whose own ctx ends
// first returns ctx.Err() and, being the caller's business, does not count
// as an outage. Between [MinTimeout] and [MaxTimeout]. Default
// [DefaultTimeout].
func WithTimeout(d time.Duration) Option {
	return opt(func(c *config) {
		if d < MinTimeout || d > MaxTimeout {
			c.fail("timeout must be between %v and %v, got %v", MinTimeout, MaxTimeout, d)
			return
		}
		c.timeout = d
	})
}

// WithProbeInterval sets how often, while in fallback, the limiter's probe
// pings Redis to switch back. Between [MinProbeInterval] and
// [MaxProbeInterval]. Default [DefaultProbeInterval].
func WithProbeInterval(d time.Duration) Option {
	return opt(func(c *config) {
		if d < MinProbeInterval || d > MaxProbeInterval {
			c.fail("probe interval must be between %v and %v, got %v", MinProbeInterval, MaxProbeInterval, d)
			return
		}
		c.probe = d
	})
}

// WithFallback sets what the limiter does while Redis is unreachable.
// Default [FallbackLocal].
func WithFallback(f Fallback) Option {
	return opt(func(c *config) {
		if f < FallbackLocal || f > FallbackClosed {
			c.fail("unknown fallback %v", f)
			return
		}
		c.fallback = f
	})
}

// WithInstances tells the limiter how many instances share the limit, so
// [FallbackLocal] gives each instance 1/n of the global rate and of the
// burst (rounded up). Set it to the fleet's size: with the default of 1,
// each instance falls back to the whole global limit. Between 1 and
// [MaxInstances]. Default [DefaultInstances].
func WithInstances(n int) Option {
	return opt(func(c *config) {
		if n < 1 || n > MaxInstances {
			c.fail("instances must be between 1 and %d, got %d", MaxInstances, n)
			return
		}
		c.instances = n
	})
}

// WithMaxKeys bounds how many keys the limiter tracks in process: the
// fallback limiter's keys (limit.WithMaxKeys: a key back at its full quota
// goes first, else the one closest to full) and, with [WithLease], the
// leases (all dropped at once when full, which only wastes leased tokens
// and forgets denials). Neither can make the fleet admit more than one
// key's local burst extra. Between 1 and [MaxMaxKeys]. Default
// [DefaultMaxKeys].
func WithMaxKeys(n int) Option {
	return opt(func(c *config) {
		if n < 1 || n > MaxMaxKeys {
			c.fail("max keys must be between 1 and %d, got %d", MaxMaxKeys, n)
			return
		}
		c.maxKeys = n
	})
}

// WithClock sets the clock of the in-process parts (fallback limiter,
// leases). Default: the system clock.
func WithClock(clk Clock) Option {
	return opt(func(c *config) {
		if clk == nil {
			c.fail("nil clock")
			return
		}
		c.clock = clk
	})
}

// WithEventHook sets a function called on every switch between Redis and
// the fallback. It runs outside the limiter's locks, on the goroutine of the
// call that saw Redis fail (switch to fallback) or on the probe's goroutine
// (switch back); it should return quickly.
func WithEventHook(hook func(Event)) Option {
	return opt(func(c *config) {
		if hook == nil {
			c.fail("nil event hook")
			return
		}
		c.hook = hook
	})
}

// WithLogger logs every switch to the fallback (at Warn, with the cause)
// and back (at Info), once per switch. By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return opt(func(c *config) {
		if l == nil {
			c.fail("nil logger")
			return
		}
		c.logger = l
	})
}

type leaseOption int

func (o leaseOption) applyToken(c *config) {
	if o < 2 || o > MaxLeaseBatch {
		c.fail("lease batch must be between 2 and %d, got %d", MaxLeaseBatch, int(o))
		return
	}
	c.lease = int(o)
}

// WithLease turns on local leasing: when an instance has no tokens for a
// key, it takes up to batch tokens from Redis in one round trip and spends
// them locally; a denial is remembered until its retry-after. This cuts
// round trips by up to the batch size. The cost in accuracy is bounded: the
// fleet never admits more in total than the bucket hands out, but in any
// interval it may admit up to instances × (batch-1) more than an exact
// limiter (tokens leased before the interval, spent in it), and leased
// tokens an instance does not spend within the bucket's refill time
// (burst/rate, or instances×batch/rate, or 1s, whichever is longest) are
// dropped: fewer admitted, never more. A remembered denial is exact: no token can be had
// before the retry-after Redis gave. Between 2 and [MaxLeaseBatch]; a lease
// never exceeds what the bucket holds. Off by default.
func WithLease(batch int) TokenOption { return leaseOption(batch) }
