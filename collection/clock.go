package collection

import "time"

// Clock tells the current time. It is the only time source of a
// [RollingWindow] or a [TimingWheel] built with [WithClock]; tests pass a fake
// to drive time by hand. Any type with a Now method fits, so one fake clock
// serves every levee module.
type Clock interface {
	Now() time.Time
}

// systemClock is the default [Clock]: the wall clock with its monotonic
// reading, so durations stay correct across wall-clock steps.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// ClockOption is returned by [WithClock]. It configures a [RollingWindow] and
// a [TimingWheel] alike.
type ClockOption struct {
	clock Clock
}

// WithClock makes the window or wheel read time from c instead of the system
// clock. A nil c is refused by the constructor.
func WithClock(c Clock) ClockOption {
	return ClockOption{clock: c}
}

func (o ClockOption) applyRollingWindow(c *rollingWindowConfig) {
	c.clock = o.clock
	c.clockSet = true
}

func (o ClockOption) applyTimingWheel(c *timingWheelConfig) {
	c.clock = o.clock
	c.clockSet = true
}
