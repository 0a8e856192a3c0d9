package shedding

import (
	"fmt"
	"time"
)

// Clock tells the time. Options that take a Clock let tests drive a shedder
// or a limiter deterministically; any type with this method fits, so one
// fake clock serves every levee module. A Clock must be safe for concurrent
// use.
type Clock interface {
	Now() time.Time
}

// Priority ranks a request against the others sharing one shedder or
// limiter: under overload the lower classes are turned away before any
// higher one. The zero value is [Default], so a request nobody classified
// is neither first nor last to go.
type Priority int8

// The priority classes, lowest first.
const (
	// Sheddable work is turned away first: prefetches, batch jobs, retries.
	Sheddable Priority = -1
	// Default is the class of a request nobody classified.
	Default Priority = 0
	// Critical work is turned away last: health checks, payments.
	Critical Priority = 1
)

// NumPriorities is the number of priority classes. Per-class figures in
// stats are arrays of this length, indexed by [Priority.Index].
const NumPriorities = 3

// Index returns p's position in per-class arrays: 0 for [Sheddable], 1 for
// [Default], 2 for [Critical].
func (p Priority) Index() int { return int(p) + 1 }

// Valid reports whether p is one of the three classes.
func (p Priority) Valid() bool { return p >= Sheddable && p <= Critical }

// String returns the class's name.
func (p Priority) String() string {
	switch p {
	case Sheddable:
		return "sheddable"
	case Default:
		return "default"
	case Critical:
		return "critical"
	}
	return fmt.Sprintf("Priority(%d)", int8(p))
}
