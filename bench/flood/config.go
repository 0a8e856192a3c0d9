package flood

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Backend modes.
const (
	// Unbounded queues every search, finishes the ones whose callers have
	// left, and slows down as the queue grows: the crushed cluster.
	Unbounded = "unbounded"
	// Admission bounds the search queue and answers 429
	// es_rejected_execution_exception when it is full, as Elasticsearch's
	// thread pools do.
	Admission = "admission"
)

// BackendModes lists the allowed values of [Config.Backend].
var BackendModes = []string{Unbounded, Admission}

// Config is one flood run. Durations, rates and sizes are validated by
// [Config.Validate]; the names in its errors are the command's flags.
type Config struct {
	Capacity      int           // searches per second the backend can serve (-capacity)
	Workers       int           // backend workers (-workers); service time = Workers / Capacity
	CPUWork       time.Duration // real CPU work of one search (-cpu-work), part of the service time
	Timeout       time.Duration // client timeout per search (-timeout)
	Before        time.Duration // normal load before the flood (-before)
	Flood         time.Duration // the flood (-flood)
	After         time.Duration // normal load after the flood (-after)
	NormalFactor  float64       // normal load as a fraction of capacity (-normal)
	FloodFactor   float64       // flood load as a multiple of capacity (-flood-factor)
	Backend       string        // Unbounded or Admission (-backend)
	QueueSize     int           // search queue bound in Admission mode (-queue-size)
	PressureQueue int           // queue length that doubles the service time (-pressure-queue); 0: no slowdown
	MaxSlowdown   float64       // cap of the memory-pressure slowdown (-max-slowdown)
	Variants      []string      // variants to run, in order (-variants)
	Parallel      int           // variants run at the same time, each in its own process (-parallel)
	Seed          uint64        // seed of the arrival sequence (-seed)
	Out           string        // output directory (-out); empty: a new temp dir

	// WorkIters is the calibrated number of scoring iterations of one
	// search; 0 means calibrate CPUWork in this process.
	WorkIters int `json:",omitempty"`
}

// DefaultConfig returns the default run: 100 searches/s of capacity, a
// 3× flood for 10 s between 3 s and 5 s of half-capacity load.
func DefaultConfig() Config {
	return Config{
		Capacity:      100,
		Workers:       8,
		CPUWork:       500 * time.Microsecond,
		Timeout:       time.Second,
		Before:        3 * time.Second,
		Flood:         10 * time.Second,
		After:         5 * time.Second,
		NormalFactor:  0.5,
		FloodFactor:   3,
		Backend:       Unbounded,
		QueueSize:     50,
		PressureQueue: 100,
		MaxSlowdown:   4,
		Variants:      VariantNames(),
		Parallel:      3,
		Seed:          1,
	}
}

// ServiceTime is the time one search holds a worker on an idle backend.
func (c Config) ServiceTime() time.Duration {
	return time.Duration(float64(time.Second) * float64(c.Workers) / float64(c.Capacity))
}

// Total is the length of the offered load: before, flood and after.
func (c Config) Total() time.Duration { return c.Before + c.Flood + c.After }

// Limits of the configuration, so that no flag can make a run hang or
// exhaust the machine.
const (
	MaxCapacity    = 5000
	MaxWorkers     = 1000
	MaxPhase       = 10 * time.Minute
	MinPhase       = time.Second
	MinTimeout     = 10 * time.Millisecond
	MaxTimeout     = time.Minute
	MaxFloodFactor = 20
	MaxQueue       = 1_000_000
	MaxParallel    = 16
)

// Validate reports the first invalid field as an error naming its flag
// and the allowed values.
func (c Config) Validate() error {
	switch {
	case c.Capacity < 1 || c.Capacity > MaxCapacity:
		return fmt.Errorf("flood: -capacity must be between 1 and %d searches/s, got %d", MaxCapacity, c.Capacity)
	case c.Workers < 1 || c.Workers > MaxWorkers:
		return fmt.Errorf("flood: -workers must be between 1 and %d, got %d", MaxWorkers, c.Workers)
	case c.Workers > c.Capacity:
		return fmt.Errorf("flood: -workers (%d) must not exceed -capacity (%d): the service time would exceed 1s", c.Workers, c.Capacity)
	case c.CPUWork < 0 || c.CPUWork > c.ServiceTime()/2:
		return fmt.Errorf("flood: -cpu-work must be between 0 and half the service time (%v = -workers/-capacity), got %v", c.ServiceTime()/2, c.CPUWork)
	case c.Timeout < MinTimeout || c.Timeout > MaxTimeout:
		return fmt.Errorf("flood: -timeout must be between %v and %v, got %v", MinTimeout, MaxTimeout, c.Timeout)
	case c.Before < MinPhase || c.Before > MaxPhase:
		return fmt.Errorf("flood: -before must be between %v and %v, got %v", MinPhase, MaxPhase, c.Before)
	case c.Flood < MinPhase || c.Flood > MaxPhase:
		return fmt.Errorf("flood: -flood must be between %v and %v, got %v", MinPhase, MaxPhase, c.Flood)
	case c.After < MinPhase || c.After > MaxPhase:
		return fmt.Errorf("flood: -after must be between %v and %v, got %v", MinPhase, MaxPhase, c.After)
	case !(c.NormalFactor > 0 && c.NormalFactor <= 1):
		return fmt.Errorf("flood: -normal must be greater than 0 and at most 1 (a fraction of capacity), got %v", c.NormalFactor)
	case !(c.FloodFactor > 0 && c.FloodFactor <= MaxFloodFactor) || math.IsNaN(c.FloodFactor):
		return fmt.Errorf("flood: -flood-factor must be greater than 0 and at most %d (a multiple of capacity), got %v", MaxFloodFactor, c.FloodFactor)
	case c.Backend != Unbounded && c.Backend != Admission:
		return fmt.Errorf("flood: -backend must be one of %s, got %q", strings.Join(BackendModes, ", "), c.Backend)
	case c.QueueSize < 1 || c.QueueSize > MaxQueue:
		return fmt.Errorf("flood: -queue-size must be between 1 and %d, got %d", MaxQueue, c.QueueSize)
	case c.PressureQueue < 0 || c.PressureQueue > MaxQueue:
		return fmt.Errorf("flood: -pressure-queue must be between 0 (no slowdown) and %d, got %d", MaxQueue, c.PressureQueue)
	case !(c.MaxSlowdown >= 1 && c.MaxSlowdown <= 100):
		return fmt.Errorf("flood: -max-slowdown must be between 1 and 100, got %v", c.MaxSlowdown)
	case c.Parallel < 1 || c.Parallel > MaxParallel:
		return fmt.Errorf("flood: -parallel must be between 1 and %d, got %d", MaxParallel, c.Parallel)
	case len(c.Variants) == 0:
		return fmt.Errorf("flood: -variants must name at least one of %s", strings.Join(VariantNames(), ", "))
	case float64(c.Capacity)*c.FloodFactor > 4*MaxCapacity:
		return fmt.Errorf("flood: -capacity × -flood-factor must be at most %d searches/s, got %v", 4*MaxCapacity, float64(c.Capacity)*c.FloodFactor)
	}
	seen := map[string]bool{}
	for _, v := range c.Variants {
		if _, ok := variantByName(v); !ok {
			return fmt.Errorf("flood: unknown variant %q in -variants; allowed: %s", v, strings.Join(VariantNames(), ", "))
		}
		if seen[v] {
			return fmt.Errorf("flood: variant %q named twice in -variants", v)
		}
		seen[v] = true
	}
	return nil
}

// Phase names.
const (
	PhaseBefore = "before"
	PhaseFlood  = "flood"
	PhaseAfter  = "after"
)

// phaseAt returns the phase at offset t from the start and its offered
// rate in searches per second.
func (c Config) phaseAt(t time.Duration) (string, float64) {
	switch {
	case t < c.Before:
		return PhaseBefore, c.NormalFactor * float64(c.Capacity)
	case t < c.Before+c.Flood:
		return PhaseFlood, c.FloodFactor * float64(c.Capacity)
	default:
		return PhaseAfter, c.NormalFactor * float64(c.Capacity)
	}
}

// SteadyFrom is the time into the flood after which the guards are
// judged settled, for the steady-state p99: 5 s, or half the flood if it
// is shorter than 10 s.
func (c Config) SteadyFrom() time.Duration { return min(5*time.Second, c.Flood/2) }
