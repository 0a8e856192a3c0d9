package shedding

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of the shedder's tunables. The window, buckets, threshold,
// cool-off, in-flight smoothing and cold-start round trip are go-zero's
// adaptive shedder's; the load smoothing is faster than go-zero's 0.95,
// which takes about 11 s of a saturated CPU to cross the threshold.
const (
	DefaultShedWindow      = 5 * time.Second
	DefaultBuckets         = 50
	DefaultThreshold       = 900 // permille
	DefaultCoolOff         = time.Second
	DefaultFlyingSmoothing = 0.9
	DefaultColdRT          = time.Second
	DefaultSampleInterval  = 250 * time.Millisecond
	DefaultLoadSmoothing   = 0.8
	DefaultLogInterval     = 10 * time.Second
)

// DefaultMinInFlight is the in-flight count at or below which nothing is
// shed (see [WithMinInFlight]).
const DefaultMinInFlight = 4

// MaxMinInFlight is the largest value [WithMinInFlight] accepts.
const MaxMinInFlight = 1 << 20

// DefaultHeadroom is the share of the bound by which the in-flight limit of
// a class differs from the next class's (see [WithPriorityHeadroom]).
const DefaultHeadroom = 0.25

// Ranges of the tunables; out of range is an error from [New].
const (
	MaxBuckets        = 1 << 12
	MinBucket         = time.Millisecond
	MaxShedWindow     = time.Hour
	MaxCoolOff        = time.Hour
	MaxColdRT         = time.Hour
	MinSampleInterval = 10 * time.Millisecond
	MaxSampleInterval = time.Minute
)

// Signal names a built-in overload signal; see [WithSignal].
type Signal int8

const (
	// CPU is the CPU usage of the process's container (cgroup v2, then
	// cgroup v1) or, outside one, of the host, as a share of the CPUs the
	// process may use. The default.
	CPU Signal = iota
	// Pressure is the kernel's CPU pressure stall information (Linux 4.20
	// and later): the share of time some runnable task of the cgroup (or,
	// without one, of the host) waited for a CPU. It measures queueing
	// rather than busyness, so its useful thresholds are lower: 200‰ to
	// 500‰.
	Pressure
)

func (s Signal) String() string {
	switch s {
	case CPU:
		return "cpu"
	case Pressure:
		return "pressure"
	}
	return fmt.Sprintf("Signal(%d)", int8(s))
}

// LoadSource reports a load in permille: 0 idle, 1000 saturated; values
// above 1000 are allowed. Given with [WithLoadSource] it replaces the
// built-in signal: a test's fake, a queue length, a GC signal. The shedder
// calls Load at most once per bucket, from a goroutine calling
// [Shedder.Allow] and outside the shedder's locks; it must be safe for
// concurrent use and return quickly.
type LoadSource interface {
	Load() int64
}

// LoadFunc adapts a function to [LoadSource].
type LoadFunc func() int64

// Load returns f().
func (f LoadFunc) Load() int64 { return f() }

// Option configures [New]. Options are values, the last of a kind wins, and
// an option left out means the documented default. The options of the
// adaptive concurrency limit do not fit New, nor these the limit.
type Option interface {
	apply(*config)
}

type config struct {
	window      time.Duration
	buckets     int
	threshold   int64
	coolOff     time.Duration
	flyingBeta  float64
	coldRT      time.Duration
	interval    time.Duration
	loadBeta    float64
	headroom    float64
	minFlight   int
	signal      Signal
	source      LoadSource
	clock       Clock
	hook        func(Event)
	logger      *slog.Logger
	logInterval time.Duration
	root        string // file-system root of the built-in sources; tests only

	errs []error
}

func defaultConfig() config {
	return config{
		window:      DefaultShedWindow,
		buckets:     DefaultBuckets,
		threshold:   DefaultThreshold,
		coolOff:     DefaultCoolOff,
		flyingBeta:  DefaultFlyingSmoothing,
		coldRT:      DefaultColdRT,
		interval:    DefaultSampleInterval,
		loadBeta:    DefaultLoadSmoothing,
		headroom:    DefaultHeadroom,
		minFlight:   DefaultMinInFlight,
		signal:      CPU,
		logInterval: DefaultLogInterval,
		root:        "/",
	}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("shedding: "+format, args...))
}

func build(opts []Option) (config, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			c.fail("nil Option")
			continue
		}
		o.apply(&c)
	}
	if len(c.errs) == 0 && c.window/time.Duration(c.buckets) < MinBucket {
		c.fail("window %v split into %d buckets gives buckets shorter than %v", c.window, c.buckets, MinBucket)
	}
	return c, errors.Join(c.errs...)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithShedWindow sets the length of the rolling window over which the shedder
// learns the most requests a bucket completed and the shortest round trip.
// It must be positive and at most [MaxShedWindow]. Default [DefaultShedWindow].
func WithShedWindow(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 || d > MaxShedWindow {
			c.fail("window must be between 1ns and %v, got %v", MaxShedWindow, d)
			return
		}
		c.window = d
	})
}

// WithBuckets sets how many buckets the window is split into. The shedder
// reads the load and recomputes its bound once per bucket. It must be
// between 1 and [MaxBuckets], and each bucket at least [MinBucket] long.
// Default [DefaultBuckets].
func WithBuckets(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 || n > MaxBuckets {
			c.fail("buckets must be between 1 and %d, got %d", MaxBuckets, n)
			return
		}
		c.buckets = n
	})
}

// WithThreshold sets the load, in permille, at and above which the process
// counts as overloaded. It must be between 1 and 1000. Default
// [DefaultThreshold].
func WithThreshold(permille int64) Option {
	return optionFunc(func(c *config) {
		if permille < 1 || permille > 1000 {
			c.fail("threshold must be between 1 and 1000 permille, got %d", permille)
			return
		}
		c.threshold = permille
	})
}

// WithCoolOff sets how long the shedder keeps shedding above the bound
// after the load has fallen below the threshold, if it shed anything while
// overloaded: the load signal lags, and the backlog it measured is still
// being worked off. Zero turns cool-off off. At most [MaxCoolOff]. Default
// [DefaultCoolOff].
func WithCoolOff(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 || d > MaxCoolOff {
			c.fail("cool-off must be between 0 and %v, got %v", MaxCoolOff, d)
			return
		}
		c.coolOff = d
	})
}

// WithFlyingSmoothing sets the weight beta of the old value in the
// exponential average of the in-flight count, updated at each admission and
// completion while the shedder is hot and at each bucket boundary: avg = beta·avg +
// (1−beta)·in-flight. At the onset of an overload a request is shed only
// when both the count and its average exceed the bound, so a momentary
// burst passes; once the shedder is shedding, the count alone decides. It must be in
// [0, 1). Default [DefaultFlyingSmoothing].
func WithFlyingSmoothing(beta float64) Option {
	return optionFunc(func(c *config) {
		if !(beta >= 0 && beta < 1) {
			c.fail("flying smoothing must be in [0, 1), got %v", beta)
			return
		}
		c.flyingBeta = beta
	})
}

// WithColdRT sets the round trip the shedder assumes while its window holds
// no completed request, which sets the bound of a cold shedder to
// ColdRT/bucket: large, so that a shedder that has seen nothing does not
// shed much. It must be positive and at most [MaxColdRT]. Default
// [DefaultColdRT].
func WithColdRT(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 || d > MaxColdRT {
			c.fail("cold round trip must be between 1ns and %v, got %v", MaxColdRT, d)
			return
		}
		c.coldRT = d
	})
}

// WithSampleInterval sets how often the built-in signal is sampled, by one
// goroutine shared by every shedder with the same signal and sampling. It
// must be between [MinSampleInterval] and [MaxSampleInterval]. Default
// [DefaultSampleInterval].
func WithSampleInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < MinSampleInterval || d > MaxSampleInterval {
			c.fail("sample interval must be between %v and %v, got %v", MinSampleInterval, MaxSampleInterval, d)
			return
		}
		c.interval = d
	})
}

// WithLoadSmoothing sets the weight beta of the old value in the
// exponential average of the built-in signal's samples: load = beta·load +
// (1−beta)·sample. It must be in [0, 1); 0 means no smoothing. Default
// [DefaultLoadSmoothing]: at the default interval a saturated CPU crosses
// the default threshold about 2.6 s after an idle one.
func WithLoadSmoothing(beta float64) Option {
	return optionFunc(func(c *config) {
		if !(beta >= 0 && beta < 1) {
			c.fail("load smoothing must be in [0, 1), got %v", beta)
			return
		}
		c.loadBeta = beta
	})
}

// WithPriorityHeadroom sets how far apart the classes' in-flight limits
// are, as a share h of the bound. Under overload the shedder holds the
// in-flight count at the bound with the highest class it had to shed in
// the last bucket (the marginal class); each class above it may take the
// count h·bound further, each class below it is shed h·bound earlier. So a
// flood of a low class is shed at the bound while higher classes pass, and
// the marginal class keeps the server at its Little's-law bound, whichever
// class that is. h must be in (0, 1]. Default [DefaultHeadroom].
func WithPriorityHeadroom(h float64) Option {
	return optionFunc(func(c *config) {
		if !(h > 0 && h <= 1) {
			c.fail("priority headroom must be in (0, 1], got %v", h)
			return
		}
		c.headroom = h
	})
}

// WithMinInFlight sets the in-flight count at or below which no request is
// shed, whatever the bound: at low traffic the window holds too few requests
// for Little's law to say anything (a server that never saw more than one
// request at a time would learn a bound of 1), and a handful of requests
// cannot be what overloads it. go-zero's floor is 1. It must be between 1
// and [MaxMinInFlight]. Default [DefaultMinInFlight].
func WithMinInFlight(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 || n > MaxMinInFlight {
			c.fail("min in-flight must be between 1 and %d, got %d", MaxMinInFlight, n)
			return
		}
		c.minFlight = n
	})
}

// WithSignal chooses the built-in overload signal: [CPU] (the default) or
// [Pressure]. If the signal is not available here, [New] returns an error
// matching [ErrNoSignal].
func WithSignal(s Signal) Option {
	return optionFunc(func(c *config) {
		if s != CPU && s != Pressure {
			c.fail("unknown signal %v", s)
			return
		}
		c.signal = s
	})
}

// WithLoadSource replaces the built-in signal with src; no sampling
// goroutine is started. [Stats] reports the source as "custom".
func WithLoadSource(src LoadSource) Option {
	return optionFunc(func(c *config) {
		if src == nil {
			c.fail("nil LoadSource")
			return
		}
		c.source = src
	})
}

// WithClock sets the clock the shedder reads: once per [Shedder.Allow] and
// once per outcome. The built-in signals are sampled on the system's clock
// regardless. By default it is the system's monotonic clock.
func WithClock(clk Clock) Option {
	return optionFunc(func(c *config) {
		if clk == nil {
			c.fail("nil Clock")
			return
		}
		c.clock = clk
	})
}

// WithEventHook sets a function told when the shedder starts shedding (its
// first drop after a calm spell) and when it stops (the load is below the
// threshold and the cool-off is over). It is called outside the shedder's
// locks, on the goroutine that noticed the change, once per transition; it
// should return quickly.
func WithEventHook(hook func(Event)) Option {
	return optionFunc(func(c *config) {
		if hook == nil {
			c.fail("nil event hook")
			return
		}
		c.hook = hook
	})
}

// WithLogger logs when shedding starts (Warn) and stops (Info), at most
// once per log interval ([WithLogInterval]), so that a flapping overload
// does not flood the log; a drop is never logged by itself. By default
// nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l == nil {
			c.fail("nil logger")
			return
		}
		c.logger = l
	})
}

// WithLogInterval sets the least time between two log records of a
// shedder. It must be positive and at most an hour. Default
// [DefaultLogInterval].
func WithLogInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 || d > time.Hour {
			c.fail("log interval must be between 1ns and 1h, got %v", d)
			return
		}
		c.logInterval = d
	})
}

// withRoot makes the built-in sources read their files under root instead
// of /: the tests' fixture trees.
func withRoot(root string) Option {
	return optionFunc(func(c *config) { c.root = root })
}
