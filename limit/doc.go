// Package limit holds in-process rate limiters, limits per key with bounded
// memory, and HTTP middleware whose client identity a forged header cannot
// change. It uses the standard library only.
//
// # Limiters
//
//   - [TokenBucket]: rate and burst, as GCRA on one atomic word. Allow,
//     AllowN(now, n), [TokenBucket.ReserveN] with a cancellable
//     [Reservation], [TokenBucket.Wait] that fails at once when the wait
//     would outlast the context's deadline, SetRate and SetBurst at run
//     time. Lock-free, no allocation.
//   - [FixedWindow]: a quota per period, windows optionally aligned to the
//     wall clock of a time zone ([WithCalendar]).
//   - [SlidingWindow]: never more than the quota in any span as long as the
//     window, across window edges included.
//
// Every decision is a [Result]: allowed or not, the quota, what remains,
// the wait until the same request can pass (never shorter than the real
// one) and the time until the quota is full again. [Result.Status] gives
// go-zero's PeriodLimit codes (allowed, hit quota, over quota). Each
// limiter has AllowN(now, n), taking the time as an argument, so behaviour
// over time is tested without sleeping; [WithClock] injects a clock for the
// calls that read it.
//
// Invalid arguments are errors naming what was wrong; a request cost below
// 0 or above the quota is an error matching [ErrInvalidCost]. A rate of 0
// or an infinite rate is refused: x/time/rate gives them meanings ("the
// burst, then nothing" and "no limit") that a configuration field left at
// its zero value triggers by accident. Every size and duration has a range
// ([MaxQuota], [MaxRate], [MaxRefill], [MaxPrecision], [MaxKeys]).
//
// # Limits per key
//
// [NewKeyed] gives every key (client address, user, tenant) a limiter
// shaped like a given one, under a hard cap on the number of keys
// ([WithMaxKeys]). Keys back at their full quota are forgotten a few at a
// time as new keys arrive ([WithIdleTimeout]); no goroutine sweeps, and
// nothing ever holds a lock across the whole table. [Keyed.Stats] and
// [WithCapHook] tell when the cap forces out keys still in use. A [Keyed]
// implements [KeyedLimiter], the interface the middleware consumes, as do
// the Redis-backed limiters of limit/redislimit.
//
// # HTTP
//
// [Middleware] answers a client over its quota with 429 Too Many Requests
// and Retry-After, and every response with the RateLimit and
// RateLimit-Policy fields of draft-ietf-httpapi-ratelimit-headers
// (optionally the legacy X-RateLimit-* names too). The key is the
// connection's address (IPv6 grouped by /64) unless [WithTrustedProxies]
// lists the networks of the proxies in front: then X-Forwarded-For or
// Forwarded is walked from right to left, past trusted proxies, and the
// first address that is not one is the client. Anything unreadable falls
// back to the connection's address, never to a fresh key. The key
// function, the cost of a request and the responses are pluggable.
//
// # Concurrency
//
// Every type is safe for concurrent use by multiple goroutines. Nothing in
// the package starts a goroutine.
package limit
