package mr

import "fmt"

// DefaultWorkers is the number of mappers run concurrently when
// [WithWorkers] is not given.
const DefaultWorkers = 16

// MaxWorkers is the largest count [WithWorkers] accepts, 2^20. Workers are
// goroutines started on demand and the queues are sized by what a call
// uses, so a large count costs nothing until the items are there to keep
// that many mappers busy; a count above MaxWorkers is an error rather
// than "no limit".
const MaxWorkers = 1 << 20

// Option configures a [MapReduce], [MapReduceVoid] or [ForEach] call.
// Options are values, as in every levee module: the last of a kind wins,
// and a nil Option is ignored. [WithWorkers] is the one option.
type Option interface{ apply(*config) }

type workersOption int

func (o workersOption) apply(c *config) { c.workers = int(o) }

type config struct {
	workers int
}

// WithWorkers sets how many mappers run concurrently (default
// [DefaultWorkers]). n must be between 1 and [MaxWorkers]; otherwise the
// call returns an error without running anything.
func WithWorkers(n int) Option {
	return workersOption(n)
}

func buildConfig(opts []Option) (config, error) {
	c := config{workers: DefaultWorkers}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&c)
		}
	}
	if c.workers < 1 || c.workers > MaxWorkers {
		return c, fmt.Errorf("mr: workers must be between 1 and %d, got %d", MaxWorkers, c.workers)
	}
	return c, nil
}
