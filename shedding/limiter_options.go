package shedding

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults and bounds of the limiter's tunables.
const (
	DefaultInitialLimit  = 100
	DefaultMinLimit      = 4
	DefaultMaxLimit      = 1000
	DefaultTolerance     = 1.25
	DefaultWindow        = 100 * time.Millisecond
	DefaultProbeInterval = 30 * time.Second

	// MaxLimit is the largest limit any option accepts.
	MaxLimit = 1 << 20
	// MaxQueue is the largest wait queue [WithMaxQueue] accepts.
	MaxQueue = 1 << 20
	// MaxWaitLimit is the longest wait [WithMaxWait] accepts.
	MaxWaitLimit = time.Minute

	minWindow        = time.Millisecond
	maxWindow        = time.Minute
	minProbeInterval = time.Second
	maxProbeInterval = 24 * time.Hour
	maxTolerance     = 10
)

// LimiterOption configures [NewLimiter]; every LimiterOption also fits
// [NewTransport], which makes one limiter per host with it. Options are
// values: the last of a kind wins. The zero LimiterOption is invalid.
type LimiterOption struct {
	f func(*limiterConfig)
}

func (o LimiterOption) applyLimiter(c *limiterConfig) {
	if o.f == nil {
		c.fail("zero LimiterOption")
		return
	}
	o.f(c)
}

func (o LimiterOption) applyTransport(c *transportConfig) { o.applyLimiter(&c.limiter) }

type limiterConfig struct {
	initial, min, max int
	initialSet        bool
	tolerance         float64
	window            time.Duration
	probe             time.Duration
	maxWait           time.Duration
	maxQueue          int
	clock             Clock
	overload          func(error) bool
	hook              func(LimiterEvent)
	logger            *slog.Logger
	name              string
	errs              []error
}

func defaultLimiterConfig() limiterConfig {
	return limiterConfig{
		initial:   DefaultInitialLimit,
		min:       DefaultMinLimit,
		max:       DefaultMaxLimit,
		tolerance: DefaultTolerance,
		window:    DefaultWindow,
		probe:     DefaultProbeInterval,
		maxQueue:  MaxQueue,
	}
}

func (c *limiterConfig) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("shedding: "+format, args...))
}

// check validates the options against each other; the single options were
// validated as they were applied.
func (c *limiterConfig) check() error {
	if len(c.errs) == 0 {
		switch {
		case c.min > c.max:
			c.fail("min limit %d is above max limit %d", c.min, c.max)
		case c.initialSet && (c.initial < c.min || c.initial > c.max):
			c.fail("initial limit %d is outside [min %d, max %d]", c.initial, c.min, c.max)
		case !c.initialSet:
			c.initial = min(max(c.initial, c.min), c.max)
		}
	}
	return errors.Join(c.errs...)
}

func limitOption(what string, n int, set func(*limiterConfig, int)) LimiterOption {
	return LimiterOption{func(c *limiterConfig) {
		if n < 1 || n > MaxLimit {
			c.fail("%s limit must be between 1 and %d, got %d", what, MaxLimit, n)
			return
		}
		set(c, n)
	}}
}

// WithInitialLimit sets the limit a new limiter starts with, before it has
// measured anything. Between 1 and [MaxLimit], within the min and max
// limits. Default [DefaultInitialLimit] (clamped into [min, max] when only
// those are set): high enough that a service starting under its normal
// traffic is not throttled and that its first window is clean (at most
// half the limit in use), so that it becomes the baseline. The first
// windows bring it down: to the dependency's level if the dependency
// queues, to twice the calls in flight (plus one) if it is under-used.
func WithInitialLimit(n int) LimiterOption {
	return limitOption("initial", n, func(c *limiterConfig, n int) { c.initial, c.initialSet = n, true })
}

// WithMinLimit sets the floor of the limit, between 1 and [MaxLimit]. A
// cold limiter that finds the dependency queueing measures its unloaded
// latency at this concurrency, so it should be well below the dependency's
// own. Default [DefaultMinLimit].
func WithMinLimit(n int) LimiterOption {
	return limitOption("min", n, func(c *limiterConfig, n int) { c.min = n })
}

// WithMaxLimit sets the ceiling of the limit, between 1 and [MaxLimit].
// Default [DefaultMaxLimit].
func WithMaxLimit(n int) LimiterOption {
	return limitOption("max", n, func(c *limiterConfig, n int) { c.max = n })
}

// WithTolerance sets how much slower than its unloaded latency the
// dependency may answer before the limit shrinks: 1.25 lets recent latency
// reach 1.25 times the baseline. Between 1 (exclusive) and 10. Smaller
// keeps the dependency's queue shorter but reacts to noise; larger
// tolerates noisy latencies. Default [DefaultTolerance].
func WithTolerance(ratio float64) LimiterOption {
	return LimiterOption{func(c *limiterConfig) {
		if !(ratio > 1 && ratio <= maxTolerance) {
			c.fail("tolerance must be above 1 and at most %d, got %v", maxTolerance, ratio)
			return
		}
		c.tolerance = ratio
	}}
}

// WithWindow sets the shortest measurement window: the limit is adjusted
// at most once per window, and a window also lasts at least twice the
// recent latency and holds at least 10 samples. Between 1 ms and 1 min.
// Default [DefaultWindow].
func WithWindow(d time.Duration) LimiterOption {
	return LimiterOption{func(c *limiterConfig) {
		if d < minWindow || d > maxWindow {
			c.fail("window must be between %v and %v, got %v", minWindow, maxWindow, d)
			return
		}
		c.window = d
	}}
}

// WithProbeInterval sets how long the limiter may run saturated without a
// fresh measurement of the unloaded latency before it admits only a quarter
// of its limit for one window to take one (as envoy's adaptive concurrency
// filter does); see [Limiter]. Between 1 s and 24 h. Default
// [DefaultProbeInterval].
func WithProbeInterval(d time.Duration) LimiterOption {
	return LimiterOption{func(c *limiterConfig) {
		if d < minProbeInterval || d > maxProbeInterval {
			c.fail("probe interval must be between %v and %v, got %v", minProbeInterval, maxProbeInterval, d)
			return
		}
		c.probe = d
	}}
}

// WithMaxWait lets [Limiter.Acquire] wait up to d for a slot when the
// limit is reached, instead of failing at once. Waiters are served by
// priority class, then first come first served; when the limit falls, the
// queue is cut to the new limit, lowest class and newest first. The wait is
// measured on the system's timers, not on the limiter's [Clock]. Between 0
// (no waiting, the default) and [MaxWaitLimit].
func WithMaxWait(d time.Duration) LimiterOption {
	return LimiterOption{func(c *limiterConfig) {
		if d < 0 || d > MaxWaitLimit {
			c.fail("max wait must be between 0 and %v, got %v", MaxWaitLimit, d)
			return
		}
		c.maxWait = d
	}}
}

// WithMaxQueue bounds how many callers may wait at once (see
// [WithMaxWait]); the queue never holds more than the current limit
// either. Between 1 and [MaxQueue]. Default [MaxQueue].
func WithMaxQueue(n int) LimiterOption {
	return LimiterOption{func(c *limiterConfig) {
		if n < 1 || n > MaxQueue {
			c.fail("max queue must be between 1 and %d, got %d", MaxQueue, n)
			return
		}
		c.maxQueue = n
	}}
}

// WithOverload sets which errors passed to [Permit.Done] signal overload:
// they shrink the limit like a timeout does. By default those are
// context.DeadlineExceeded and errors with a Timeout() bool method that
// reports true (net.Error). Any other error is neutral: it frees the slot
// and teaches the limiter nothing, so a dependency failing fast does not
// raise the limit and a failure unrelated to load does not lower it.
// context.Canceled is always neutral.
func WithOverload(overload func(err error) bool) LimiterOption {
	return LimiterOption{func(c *limiterConfig) {
		if overload == nil {
			c.fail("nil overload function")
			return
		}
		c.overload = overload
	}}
}

// WithLimiterClock sets the clock the limiter reads, once per Acquire and
// once per Done. By default it is the system's monotonic clock.
func WithLimiterClock(clk Clock) LimiterOption {
	return LimiterOption{func(c *limiterConfig) {
		if clk == nil {
			c.fail("nil Clock")
			return
		}
		c.clock = clk
	}}
}

// WithLimiterEventHook sets a function told when the limit changes or a
// probe starts; at most once per window. It is called on the goroutine of
// the Done that closed the window, outside the limiter's locks; it should
// return quickly.
func WithLimiterEventHook(hook func(LimiterEvent)) LimiterOption {
	return LimiterOption{func(c *limiterConfig) {
		if hook == nil {
			c.fail("nil event hook")
			return
		}
		c.hook = hook
	}}
}

// WithLimiterLogger logs the limiter's notable changes through l: a probe
// (Info) and a window that cut the limit by a quarter or more (Warn), at
// most one record every 10 s, so an overload does not flood the log. It is
// called outside the limiter's locks. By default nothing is logged.
func WithLimiterLogger(l *slog.Logger) LimiterOption {
	return LimiterOption{func(c *limiterConfig) {
		if l == nil {
			c.fail("nil logger")
			return
		}
		c.logger = l
	}}
}

// WithLimiterName names the limiter; the name appears in its rejections
// (a [*LimitedError]) and events. [NewTransport] names each limiter by its
// host.
func WithLimiterName(name string) LimiterOption {
	return LimiterOption{func(c *limiterConfig) { c.name = name }}
}
