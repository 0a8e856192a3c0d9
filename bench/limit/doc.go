// Package limit benchmarks levee's rate limiters beside their peers:
// golang.org/x/time/rate, failsafe-go's rate limiter, uber-go/ratelimit and
// go-zero's TokenLimiter (in its in-process fallback, x/time/rate behind an
// atomic flag) for one stream; sethvargo/go-limiter's memory store,
// throttled's GCRA over its LRU memstore and ulule/limiter's memory store
// for limits per key.
//
// Rows:
//
//   - BenchmarkTokenBucketAllow/{serial,parallel}/{pass,reject}: one
//     non-blocking Allow on a shared limiter that admits everything (pass)
//     or nothing (reject). uber-go/ratelimit has no non-blocking call; its
//     row is Take on a limiter that never makes it wait, pass only.
//   - BenchmarkKeyedAllow/{serial,parallel}: Allow over 100,000 keys, every
//     key already known, each allowed.
//   - BenchmarkKeyedHotKey: a goroutine hammers one key over its quota
//     while the benchmark's goroutine decides for the 100,000 others; ns/op
//     is theirs, to compare with BenchmarkKeyedAllow/serial.
//   - BenchmarkLimitMiddleware/{serial,parallel}: a request through levee's
//     middleware (per-address key, headers) to an empty handler, beside the
//     bare handler: the difference is the middleware's cost.
package limit
