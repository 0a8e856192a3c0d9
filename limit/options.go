package limit

import (
	"time"
)

// Ranges of the arguments, checked by the constructors.
const (
	// MaxQuota is the largest burst or window quota.
	MaxQuota = 1<<31 - 1
	// MaxRate is the largest token-bucket rate, in tokens per second: the
	// bucket counts time in whole nanoseconds per token.
	MaxRate = 1e9
	// MaxRefill is the longest time an empty token bucket may take to refill
	// (burst / rate), and the longest window period.
	MaxRefill = 100 * 365 * 24 * time.Hour
	// MaxPrecision is the largest number of slots a sliding window may be
	// split into.
	MaxPrecision = 1024
	// DefaultPrecision is the number of slots a sliding window is split into
	// by default.
	DefaultPrecision = 10
)

// TokenBucketOption configures [NewTokenBucket]. [WithClock] is one.
type TokenBucketOption interface {
	applyTokenBucket(*commonConfig)
}

// FixedWindowOption configures [NewFixedWindow]: [WithClock],
// [WithCalendar].
type FixedWindowOption interface {
	applyFixedWindow(*fixedConfig)
}

// SlidingWindowOption configures [NewSlidingWindow]: [WithClock],
// [WithPrecision].
type SlidingWindowOption interface {
	applySlidingWindow(*slidingConfig)
}

type commonConfig struct {
	clock    Clock
	clockSet bool
}

type fixedConfig struct {
	commonConfig
	loc *time.Location
}

type slidingConfig struct {
	commonConfig
	precision int
}

// ClockOption is returned by [WithClock]; it configures every limiter.
type ClockOption struct {
	clock Clock
}

// WithClock makes the limiter read time from c instead of the system's
// monotonic clock, once per call. A nil c is refused by the constructor. A
// [Keyed] limiter reads the clock of the limiter it was made from.
func WithClock(c Clock) ClockOption { return ClockOption{clock: c} }

func (o ClockOption) applyTokenBucket(c *commonConfig) {
	c.clock, c.clockSet = o.clock, true
}

func (o ClockOption) applyFixedWindow(c *fixedConfig) {
	c.clock, c.clockSet = o.clock, true
}

func (o ClockOption) applySlidingWindow(c *slidingConfig) {
	c.clock, c.clockSet = o.clock, true
}

type calendarOption struct{ loc *time.Location }

// WithCalendar aligns the windows of a [FixedWindow] to the wall clock of
// loc: a window of 1h starts on the hour, a window of 24h at midnight (so a
// day with a daylight-saving change lasts 23 or 25 hours), a window of 15m
// at :00, :15, :30 and :45. The period must then divide 24 hours. A nil loc
// is refused. By default a window starts with the first request after the
// previous window ended.
func WithCalendar(loc *time.Location) FixedWindowOption { return calendarOption{loc} }

func (o calendarOption) applyFixedWindow(c *fixedConfig) {
	c.loc = o.loc
	if o.loc == nil {
		c.loc = nilLocation
	}
}

// nilLocation marks WithCalendar(nil), refused by the constructor.
var nilLocation = &time.Location{}

type precisionOption int

// WithPrecision splits a [SlidingWindow] into n slots (1 to
// [MaxPrecision], default [DefaultPrecision]). The window counts every
// slot that overlaps the last window-long span, so it never admits more
// than the quota in any span as long as the window; the cost of that
// guarantee is that a request may be turned away up to one slot (window/n)
// before the oldest admissions it counts have left the span. More slots are
// more precise and cost 4 bytes each.
func WithPrecision(n int) SlidingWindowOption { return precisionOption(n) }

func (o precisionOption) applySlidingWindow(c *slidingConfig) { c.precision = int(o) }

// systemClock marks the default clock: the monotonic clock, read with
// time.Since.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// timeBase converts times to nanoseconds since an origin, the unit every
// limiter works in.
type timeBase struct {
	clock  Clock
	system bool
	origin time.Time
}

func newTimeBase(c commonConfig) (timeBase, error) {
	if c.clockSet && c.clock == nil {
		return timeBase{}, errNilClock
	}
	clk := c.clock
	if clk == nil {
		clk = systemClock{}
	}
	_, system := clk.(systemClock)
	return timeBase{clock: clk, system: system, origin: clk.Now()}, nil
}

// Times are kept within ±maxTime of the origin (146 years), so that adding a
// refill time or a period to them cannot overflow.
const maxTime = 1 << 62

func clampTime(d time.Duration) int64 {
	if d > maxTime {
		return maxTime
	}
	if d < -maxTime {
		return -maxTime
	}
	return int64(d)
}

// now reads the clock once.
func (b *timeBase) now() int64 {
	if b.system {
		return clampTime(time.Since(b.origin))
	}
	return clampTime(b.clock.Now().Sub(b.origin))
}

func (b *timeBase) at(t time.Time) int64 { return clampTime(t.Sub(b.origin)) }
