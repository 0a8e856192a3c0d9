package cache

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Clock tells the current time. [WithClock] injects one so tests can drive
// expiry, grace and refresh by hand; any type with this method fits, so one
// fake clock serves every levee module. It must be safe for concurrent use.
type Clock interface {
	Now() time.Time
}

// Defaults and bounds of the tunables.
const (
	// DefaultNotFoundTTL is how long a key whose loader returned
	// [ErrNotFound] is remembered as missing.
	DefaultNotFoundTTL = time.Minute
	// DefaultJitter is the relative spread applied to every time to live:
	// an entry lives ttl × (1 ± 0.05).
	DefaultJitter = 0.05
	// MaxJitter is the largest spread [WithJitter] accepts.
	MaxJitter = 0.5
	// MaxTTL is the longest duration any option accepts (about 100 years).
	MaxTTL = 100 * 365 * 24 * time.Hour
	// MaxCapacity is the largest capacity [New] accepts.
	MaxCapacity = 1 << 40
	// MaxShards is the largest shard count [WithShards] accepts.
	MaxShards = 1 << 12
)

// Option configures [New]. Options are values: the last of a kind wins, and
// an option not given means its documented default. New validates every
// option and returns an error naming the first one out of range.
type Option interface {
	apply(*config)
}

type config struct {
	ttl         time.Duration // 0: no expiry
	notFoundTTL time.Duration
	jitter      float64
	grace       time.Duration
	refresh     time.Duration
	clock       Clock
	weigher     any // func(K, V) int64, checked by New
	shards      int // 0: chosen by New
	hook        func(Event)
	loadTimeout time.Duration

	errs []error
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("cache: "+format, args...))
}

func defaultConfig() config {
	return config{notFoundTTL: DefaultNotFoundTTL, jitter: DefaultJitter}
}

func buildConfig(opts []Option) (config, error) {
	c := defaultConfig()
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
	if c.refresh > 0 {
		if c.ttl == 0 {
			return c, errors.New("cache: WithRefreshAfter needs WithTTL: an entry that never expires is never refreshed")
		}
		if c.refresh >= c.ttl {
			return c, fmt.Errorf("cache: refresh-after %v must be shorter than the TTL %v", c.refresh, c.ttl)
		}
	}
	return c, nil
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

func checkDuration(c *config, what string, d time.Duration, zeroOK bool) bool {
	if d < 0 || (d == 0 && !zeroOK) || d > MaxTTL {
		lo := "positive"
		if zeroOK {
			lo = "at least 0"
		}
		c.fail("%s must be %s and at most %v, got %v", what, lo, MaxTTL, d)
		return false
	}
	return true
}

// WithTTL makes every entry expire ttl after it was written (give or take
// the jitter of [WithJitter]). It must be positive and at most [MaxTTL].
// By default entries do not expire by time; they leave only when evicted,
// deleted or replaced.
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(c *config) {
		if checkDuration(c, "TTL", ttl, false) {
			c.ttl = ttl
		}
	})
}

// WithNotFoundTTL sets how long a key whose loader returned [ErrNotFound]
// is remembered as missing, so that a flood of lookups of a key that does
// not exist reaches the data source once per d. Zero turns negative caching
// off. It must be between 0 and [MaxTTL]. Default [DefaultNotFoundTTL].
func WithNotFoundTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if checkDuration(c, "not-found TTL", d, true) {
			c.notFoundTTL = d
		}
	})
}

// WithJitter sets the relative spread of every time to live: an entry
// written with ttl expires after a duration drawn uniformly from
// ttl × [1-f, 1+f], so entries written together do not expire together.
// It must be between 0 and [MaxJitter]. Default [DefaultJitter] (±5%).
func WithJitter(f float64) Option {
	return optionFunc(func(c *config) {
		if !(f >= 0 && f <= MaxJitter) || math.IsNaN(f) {
			c.fail("jitter must be between 0 and %v, got %v", MaxJitter, f)
			return
		}
		c.jitter = f
	})
}

// WithStaleGrace keeps an expired entry for d more, so that when its
// reload fails (or the caller's context ends while it runs) [Cache.TakeResult]
// returns the old value marked [SourceStale] instead of the error. [Cache.Get]
// never returns a stale value. It must be between 0 and [MaxTTL]; zero, the
// default, turns serving stale off.
func WithStaleGrace(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if checkDuration(c, "stale grace", d, true) {
			c.grace = d
		}
	})
}

// WithRefreshAfter makes [Cache.Take] reload an entry in the background once
// it is older than d (jittered like the TTL), while every caller keeps
// getting the current value; one reload runs per key at a time, and a failed
// reload leaves the entry as it was. It needs [WithTTL] and must be positive
// and shorter than the TTL. By default entries are reloaded only once they
// expire.
func WithRefreshAfter(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if checkDuration(c, "refresh-after", d, false) {
			c.refresh = d
		}
	})
}

// WithClock sets the clock the cache reads, once per call. By default it is
// the system's monotonic clock. A nil clock is an error.
func WithClock(clk Clock) Option {
	return optionFunc(func(c *config) {
		if clk == nil {
			c.fail("nil Clock")
			return
		}
		c.clock = clk
	})
}

// WithWeigher makes the capacity given to [New] a total weight instead of
// an entry count: each entry weighs weigh(key, value), called outside the
// cache's locks on every write. A weight below 1 counts as 1. Each shard
// holds its share of the capacity, so an entry heavier than
// capacity / shards is not stored (and removes the key's old value); use
// [WithShards] to allow heavier entries. K and V must be the cache's own
// type parameters; New returns an error otherwise.
func WithWeigher[K comparable, V any](weigh func(key K, value V) int64) Option {
	return optionFunc(func(c *config) {
		if weigh == nil {
			c.fail("nil weigher")
			return
		}
		c.weigher = weigh
	})
}

// WithShards sets how many independently locked parts the cache is split
// into, a power of two between 1 and [MaxShards]. More shards let more
// cores write at once; each shard evicts on its own share of the capacity.
// By default New picks the power of two at or above 16×GOMAXPROCS,
// fewer for a small capacity (at least 128 per shard), so that cores
// reading different keys seldom share a lock. Keys are spread over shards
// by a hash of integers, booleans, pointers, strings, and structs and
// arrays of integers, booleans and pointers without padding; a cache with
// keys of any other type (floats, interfaces, structs holding strings...)
// has a single shard, and New refuses more.
func WithShards(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 || n > MaxShards || n&(n-1) != 0 {
			c.fail("shards must be a power of two between 1 and %d, got %d", MaxShards, n)
			return
		}
		c.shards = n
	})
}

// WithEventHook calls hook for each [Event]: a failed load or refresh and a
// stale value served. The hook runs on the goroutine that saw the event,
// outside the cache's locks; it must be quick and must not block.
func WithEventHook(hook func(Event)) Option {
	return optionFunc(func(c *config) {
		if hook == nil {
			c.fail("nil event hook")
			return
		}
		c.hook = hook
	})
}

// WithLoadTimeout bounds every load and refresh: its context ends d after
// it starts. Callers are bounded by their own contexts whatever d is; this
// bounds the work done for them. It must be positive and at most [MaxTTL].
// By default a load runs until it returns or [Cache.Close] is called.
func WithLoadTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if checkDuration(c, "load timeout", d, false) {
			c.loadTimeout = d
		}
	})
}
