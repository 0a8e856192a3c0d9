package rediscache

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Clock tells the current time. The cache reads it once per call to stamp
// and check the freshness of values; [WithClock] injects one. Any type with
// this method fits, so one fake clock serves every levee module. It must be
// safe for concurrent use.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Defaults and bounds of the tunables.
const (
	// DefaultTTL is how long a loaded value lives in Redis.
	DefaultTTL = time.Hour
	// DefaultNotFoundTTL is how long a key whose loader returned
	// [ErrNotFound] is remembered as missing.
	DefaultNotFoundTTL = time.Minute
	// DefaultJitter is the relative spread of every time to live: a value
	// lives ttl × (1 ± 0.05) so that keys written together do not expire
	// together.
	DefaultJitter = 0.05
	// MaxJitter is the largest spread [WithJitter] accepts.
	MaxJitter = 0.5
	// MinTTL is the shortest duration any TTL option accepts: Redis
	// expires keys with millisecond precision.
	MinTTL = time.Millisecond
	// MaxTTL is the longest duration any option accepts (about 100 years).
	MaxTTL = 100 * 365 * 24 * time.Hour
	// MaxLocalCapacity is the largest capacity [WithLocal] accepts.
	MaxLocalCapacity = 1 << 30
	// MaxPrefix is the longest key prefix [WithPrefix] accepts, in bytes.
	MaxPrefix = 1 << 10
)

// RedisErrorPolicy says what [Cache.Take] does when Redis cannot be read.
type RedisErrorPolicy int

const (
	// FailFast returns the Redis error (matching [ErrUnavailable]) at once
	// and leaves the data source alone: a cache in front of a database
	// exists because the database cannot take the full read load, so an
	// outage of the cache must not turn into an outage of the database.
	// The default.
	FailFast RedisErrorPolicy = iota
	// LoadOnError calls the loader instead, still once per key at a time
	// within the instance, and does not try to write the result back.
	// Use it when the data source can carry the load for the length of an
	// outage.
	LoadOnError
)

func (p RedisErrorPolicy) String() string {
	switch p {
	case FailFast:
		return "FailFast"
	case LoadOnError:
		return "LoadOnError"
	}
	return fmt.Sprintf("RedisErrorPolicy(%d)", int(p))
}

// Option configures [New]. Options are values: the last of a kind wins, and
// an option not given means its documented default. New validates every
// option and returns an error naming each one out of range.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	ttl         time.Duration
	notFoundTTL time.Duration
	jitter      float64
	stale       time.Duration
	prefix      string
	policy      RedisErrorPolicy
	clock       Clock
	rand        func() float64
	hook        func(Event)
	logger      *slog.Logger

	localCap int
	localTTL time.Duration

	leaseTTL  time.Duration
	leaseWait time.Duration

	codecSet bool
	codec    any // Codec[V], checked by New

	errs []error
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("rediscache: "+format, args...))
}

func buildConfig(opts []Option) (config, error) {
	c := config{
		ttl:         DefaultTTL,
		notFoundTTL: DefaultNotFoundTTL,
		jitter:      DefaultJitter,
		clock:       systemClock{},
	}
	for _, o := range opts {
		if o == nil {
			c.fail("nil Option")
			continue
		}
		o.apply(&c)
	}
	if len(c.errs) > 0 {
		return c, errors.Join(c.errs...)
	}
	return c, nil
}

func checkDuration(c *config, what string, d time.Duration, zeroOK bool) bool {
	if d == 0 && zeroOK {
		return true
	}
	if d < MinTTL || d > MaxTTL {
		lo := ""
		if zeroOK {
			lo = "0 or "
		}
		c.fail("%s must be %sbetween %v and %v, got %v", what, lo, MinTTL, MaxTTL, d)
		return false
	}
	return true
}

// WithTTL sets how long a loaded or [Cache.Set] value lives in Redis, give
// or take the jitter of [WithJitter]. It must be between [MinTTL] and
// [MaxTTL]; sub-second TTLs are kept to the millisecond. Default
// [DefaultTTL].
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(c *config) {
		if checkDuration(c, "TTL", ttl, false) {
			c.ttl = ttl
		}
	})
}

// WithNotFoundTTL sets how long a key whose loader returned [ErrNotFound]
// is remembered as missing (a placeholder in Redis), so that a flood of
// lookups of a key that does not exist reaches the data source about once
// per d. Zero turns negative caching off. It must be 0 or between [MinTTL]
// and [MaxTTL]. Default [DefaultNotFoundTTL].
func WithNotFoundTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if checkDuration(c, "not-found TTL", d, true) {
			c.notFoundTTL = d
		}
	})
}

// WithJitter sets the relative spread of every time to live: a value written
// with ttl expires after a duration drawn uniformly from ttl × [1-f, 1+f],
// so values written in a burst do not expire in a burst. It must be between
// 0 and [MaxJitter]. Default [DefaultJitter] (±5%).
func WithJitter(f float64) Option {
	return optionFunc(func(c *config) {
		if !(f >= 0 && f <= MaxJitter) {
			c.fail("jitter must be between 0 and %v, got %v", MaxJitter, f)
			return
		}
		c.jitter = f
	})
}

// WithStale keeps a value in Redis for d after its TTL has run out. Such a
// stale value is never returned while a fresh one can be had, but it is
// returned instead of an error when the reload fails, and, with
// [WithLease], at once to the callers of the instances that lost the lease
// while the winner reloads. It must be 0 (the default: no stale values) or
// between [MinTTL] and [MaxTTL].
func WithStale(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if checkDuration(c, "stale window", d, true) {
			c.stale = d
		}
	})
}

// WithPrefix puts prefix in front of every key the cache writes to Redis,
// leases included. It may be empty (the default) and at most [MaxPrefix]
// bytes long. A prefix holding a Cluster hash tag ("{users}:") puts every
// key in one slot; leave hash tags out to spread keys over the cluster.
func WithPrefix(prefix string) Option {
	return optionFunc(func(c *config) {
		if len(prefix) > MaxPrefix {
			c.fail("prefix must be at most %d bytes, got %d", MaxPrefix, len(prefix))
			return
		}
		c.prefix = prefix
	})
}

// WithRedisErrorPolicy says what [Cache.Take] does when Redis cannot be
// read: [FailFast] (the default) or [LoadOnError].
func WithRedisErrorPolicy(p RedisErrorPolicy) Option {
	return optionFunc(func(c *config) {
		if p != FailFast && p != LoadOnError {
			c.fail("unknown Redis error policy %v", p)
			return
		}
		c.policy = p
	})
}

// WithLocal puts an in-process tier of at most capacity values in front of
// Redis. A value read from or written to Redis is kept in it for ttl (never
// longer than it has left in Redis), so a hot key costs a map lookup
// instead of a round trip. [Cache.Set] and [Cache.Delete] update the tier
// of the instance they run in at once; other instances see the change when
// their copy expires, so ttl is how stale a fleet may read: keep it short
// (a second or less). capacity must be between 1 and [MaxLocalCapacity],
// ttl between [MinTTL] and [MaxTTL]. By default there is no local tier.
func WithLocal(capacity int, ttl time.Duration) Option {
	return optionFunc(func(c *config) {
		if capacity < 1 || capacity > MaxLocalCapacity {
			c.fail("local capacity must be between 1 and %d, got %d", MaxLocalCapacity, capacity)
			return
		}
		if checkDuration(c, "local TTL", ttl, false) {
			c.localCap, c.localTTL = capacity, ttl
		}
	})
}

// WithLease turns on stampede protection across instances. On a miss, the
// instance that wins a lease in Redis (SET NX PX ttl) loads the value; the
// others wait up to wait for it to appear, then serve a stale value if they
// have one (see [WithStale]; a stale value is served at once, without
// waiting) or load it themselves. A lease holder that dies releases
// nothing: its lease expires after ttl. ttl should exceed the loader's
// usual duration; both must be between [MinTTL] and [MaxTTL]. By default
// there is no lease: each instance loads a missing key once.
func WithLease(ttl, wait time.Duration) Option {
	return optionFunc(func(c *config) {
		okTTL := checkDuration(c, "lease TTL", ttl, false)
		okWait := checkDuration(c, "lease wait", wait, false)
		if okTTL && okWait {
			c.leaseTTL, c.leaseWait = ttl, wait
		}
	})
}

// WithCodec sets how values are turned into bytes for Redis. Its type
// parameter must be the cache's value type, or [New] returns an error.
// Default [JSON].
func WithCodec[V any](codec Codec[V]) Option {
	return optionFunc(func(c *config) {
		if codec == nil {
			c.fail("nil Codec")
			return
		}
		c.codec, c.codecSet = codec, true
	})
}

// WithClock sets the clock that stamps and checks the freshness of values.
// Instances of a fleet compare their clocks through these stamps, so a skew
// of s shifts when a value counts as stale by s. Default: the system clock.
func WithClock(clock Clock) Option {
	return optionFunc(func(c *config) {
		if clock == nil {
			c.fail("nil Clock")
			return
		}
		c.clock = clock
	})
}

// WithRand sets the source of the random numbers in [0, 1) that spread the
// TTLs. It is called concurrently. Default: math/rand/v2's Float64.
func WithRand(f func() float64) Option {
	return optionFunc(func(c *config) {
		if f == nil {
			c.fail("nil rand function")
			return
		}
		c.rand = f
	})
}

// WithEventHook sets a function told about Redis going down and coming
// back, corrupt values and lease waits that ran out (see [Event]). It is
// called on the goroutine that saw the event, outside any lock; it should
// return quickly.
func WithEventHook(hook func(Event)) Option {
	return optionFunc(func(c *config) {
		if hook == nil {
			c.fail("nil event hook")
			return
		}
		c.hook = hook
	})
}

// WithLogger logs Redis going down (Warn) and coming back (Info), once per
// transition, and corrupt values (Warn), at most one line a second. By
// default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l == nil {
			c.fail("nil logger")
			return
		}
		c.logger = l
	})
}

// jittered spreads d by ±f using a draw r in [0, 1), and keeps the result
// within [MinTTL, MaxTTL].
func jittered(d time.Duration, f, r float64) time.Duration {
	if f == 0 {
		return d
	}
	j := time.Duration(math.Round(float64(d) * f * (2*r - 1)))
	d += j
	if d < MinTTL {
		d = MinTTL
	}
	return d
}
