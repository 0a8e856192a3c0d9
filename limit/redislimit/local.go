package redislimit

import (
	"time"

	"github.com/levee-go/levee/limit"
)

// newLocalToken is FallbackLocal's limiter for a token bucket: a keyed
// in-process bucket of the limit module at this instance's share.
func newLocalToken(rate float64, burst int, c config) (allower, error) {
	tb, err := limit.NewTokenBucket(rate, burst, limit.WithClock(c.clock))
	if err != nil {
		return nil, err
	}
	return limit.NewKeyed(tb, limit.WithMaxKeys(c.maxKeys))
}

// newLocalWindow is FallbackLocal's limiter for a window: a keyed
// in-process window of the limit module at this instance's share.
func newLocalWindow(sliding bool, quota int, window time.Duration, c config) (allower, error) {
	var l limit.Limiter
	var err error
	if sliding {
		l, err = limit.NewSlidingWindow(quota, window, limit.WithClock(c.clock))
	} else {
		l, err = limit.NewFixedWindow(quota, window, limit.WithClock(c.clock))
	}
	if err != nil {
		return nil, err
	}
	return limit.NewKeyed(l, limit.WithMaxKeys(c.maxKeys))
}
