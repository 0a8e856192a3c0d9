// Package limit holds in-process rate limiters, keyed limits with bounded
// memory, and HTTP middleware whose client identity a forged header cannot
// change.
//
// Work in progress. The API being built (names fixed):
//
//   - NewTokenBucket(rate float64, burst int, ...TokenBucketOption) (*TokenBucket, error):
//     GCRA on one atomic word; Allow, AllowN(now, n) (Result, error),
//     Reserve, Wait(ctx), SetRate, SetBurst.
//   - NewFixedWindow(quota int, period time.Duration, ...FixedWindowOption) (*FixedWindow, error)
//   - NewSlidingWindow(quota int, window time.Duration, ...SlidingWindowOption) (*SlidingWindow, error)
//   - NewKeyed(limiter, ...KeyedOption) (*Keyed, error): one limiter per
//     key, shaped like the one given, implementing [KeyedLimiter].
//   - NewMiddleware(KeyedLimiter, ...MiddlewareOption) (*Middleware, error).
package limit
