package mr

import "fmt"

// DefaultWorkers is the number of mappers run concurrently when
// [WithWorkers] is not given.
const DefaultWorkers = 16

// Option configures a [MapReduce], [MapReduceVoid] or [ForEach] call.
type Option func(*config)

type config struct {
	workers int
}

// WithWorkers sets how many mappers run concurrently (default
// [DefaultWorkers]). n must be at least 1; otherwise the call returns an
// error without running anything.
func WithWorkers(n int) Option {
	return func(c *config) { c.workers = n }
}

func buildConfig(opts []Option) (config, error) {
	c := config{workers: DefaultWorkers}
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if c.workers < 1 {
		return c, fmt.Errorf("mr: workers must be at least 1, got %d", c.workers)
	}
	return c, nil
}
