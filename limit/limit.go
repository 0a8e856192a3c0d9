package limit

import (
	"context"
	"errors"
	"time"
)

// Result is what a limiter decided for one request, with what a caller
// needs to answer a client (the HTTP headers of [Middleware] are computed
// from it). It is a plain value: returning it allocates nothing.
type Result struct {
	// Allowed reports whether the request may proceed. A rejected request
	// consumed nothing.
	Allowed bool
	// Limit is the quota: a token bucket's burst, a window's quota.
	Limit int
	// Remaining is how many requests of cost 1 would still be allowed right
	// now, after this one (≥ 0).
	Remaining int
	// RetryAfter is, when !Allowed, the earliest wait after which the same
	// request can pass if nothing else consumes the quota meanwhile; never
	// shorter than the real wait. It is 0 when Allowed, and [Forever] when
	// the request can never pass (its cost exceeds Limit).
	RetryAfter time.Duration
	// ResetAfter is the time until the limiter is back to its full quota
	// (0 when it already is).
	ResetAfter time.Duration
	// Window is the span of time the quota Limit applies to, for the
	// RateLimit-Policy header (its w parameter): a window limiter's period;
	// for a token bucket the time an empty bucket takes to refill,
	// burst/rate. 0 means unknown, and the policy header is then left out.
	Window time.Duration
}

// Forever is the RetryAfter of a request that no wait lets through: its
// cost exceeds the limiter's quota.
const Forever = time.Duration(1<<63 - 1)

// KeyedLimiter decides per key: per client address, per user, per tenant.
// The keyed in-process limiters of this package ([Keyed]) implement it, and
// so do the Redis-backed limiters of limit/redislimit; [Middleware]
// consumes it.
//
// AllowN consumes n units of the key's quota if they are available and
// reports the decision. n = 0 consumes nothing and reports the key's
// state. An implementation returns an error matching [ErrInvalidCost] when
// n is negative or exceeds the quota (together with a Result whose
// RetryAfter is [Forever]), and may return other errors when it cannot
// decide (a store that is down); the Result is then meaningless unless the
// implementation documents otherwise. Implementations fill
// [Result.Window] when they know it, so the RateLimit-Policy header can be
// sent; a zero Window leaves that header out.
//
// Implementations must be safe for concurrent use by multiple goroutines.
type KeyedLimiter interface {
	AllowN(ctx context.Context, key string, n int) (Result, error)
}

// ErrInvalidCost is matched (with [errors.Is]) by the error a limiter
// returns for a request cost that is negative or larger than its quota: no
// wait lets such a request through.
var ErrInvalidCost = errors.New("limit: invalid request cost")

// Clock tells the current time. [WithClock] injects one so tests can drive
// a limiter deterministically; any type with this method fits, so one fake
// clock serves every levee module. A Clock must be safe for concurrent use
// if the limiter is.
type Clock interface {
	Now() time.Time
}
