// Package cache benchmarks levee's cache beside its peers: otter v2,
// ristretto v2, golang-lru v2 (expirable), theine, sturdyc and go-zero's
// core/collection.Cache. Every cache holds string keys and int values with
// a one-hour time to live, the setting a service caching lookups would use.
//
// Each peer is built with its documented constructor, bounded by entry
// count, and otherwise left at its defaults:
//
//   - levee: cache.New(capacity, WithTTL(1h)); default shards, jitter and
//     eviction (S3-FIFO).
//   - otter v2: MaximumSize capacity, ExpiryWriting(1h); Get is
//     GetIfPresent.
//   - ristretto v2: NumCounters 10×capacity, MaxCost capacity, BufferItems
//     64 (its documented recommendation), IgnoreInternalCost so that a Set
//     of cost 1 costs 1 and MaxCost counts entries like every other peer's
//     capacity (without it each entry also costs its internal size and the
//     cache holds about 2,300 of the 65,536 keys); SetWithTTL(k, v, 1, 1h);
//     Wait after the prefill.
//   - golang-lru v2: expirable.NewLRU(capacity, nil, 1h).
//   - theine: NewBuilder(capacity).Build(), SetWithTTL(k, v, 1, 1h); Wait
//     after the prefill.
//   - sturdyc: New(capacity, 64 shards, 1h, 10% evicted when full,
//     WithNoContinuousEvictions).
//   - go-zero: collection.NewCache(1h, WithLimit(capacity)).
//
// Rows:
//
//   - BenchmarkCacheGet/zipf, BenchmarkCacheGet/uniform: parallel Get hits,
//     keys drawn from a Zipf (s = 1.01) or uniform trace of 65,536 keys, on
//     a cache of capacity 131,072 prefilled with all of them. The prefill
//     is checked: every key is read back, and a key a cache dropped
//     (ristretto drops a Set when its write buffer is full) is written
//     again, up to 10 rounds, after which the benchmark fails. Every Get
//     counts its hit; hit% is the share of timed Gets that hit, so a peer
//     answering misses shows (every peer reports 100).
//   - BenchmarkCacheSet: parallel Set updating keys of the same checked,
//     prefilled cache, Zipf keys.
//   - BenchmarkCacheHitRatio: one goroutine replays a Zipf trace of 100,000
//     keys (Get, and Set on a miss) on a cache holding 10% of them; hit% is
//     the hit ratio over a whole replay, ns/op the cost of one access.
package cache
