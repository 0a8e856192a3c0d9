// Package cache benchmarks levee's cache beside its peers: otter v2,
// ristretto v2, golang-lru v2 (expirable), theine, sturdyc and go-zero's
// core/collection.Cache. Every cache holds string keys and int values with
// a one-hour time to live, the setting a service caching lookups would use.
//
// Rows:
//
//   - BenchmarkCacheGet/zipf, BenchmarkCacheGet/uniform: parallel Get hits
//     on a cache holding every key, keys drawn from a Zipf (s = 1.01) or
//     uniform trace of 65,536 keys.
//   - BenchmarkCacheSet: parallel Set updating keys of a full cache, Zipf
//     keys.
//   - BenchmarkCacheHitRatio: one goroutine replays a Zipf trace of 100,000
//     keys (Get, and Set on a miss) on a cache holding 10% of them; hit% is
//     the hit ratio over a whole replay, ns/op the cost of one access.
package cache
