package redislimit

import "github.com/levee-go/levee/limit"

// Result is the decision of a limiter, the same type as the in-process
// limiters of the limit module return, so limit's middleware works on top of
// a [Limiter] unchanged.
type Result = limit.Result

// A Limiter is a limit.KeyedLimiter.
var _ limit.KeyedLimiter = (*Limiter)(nil)
