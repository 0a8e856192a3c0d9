// Package rediscache benchmarks levee's cache/rediscache beside its peers,
// go-redis/cache (v9) and go-zero's core/stores/cache, on the same
// redis-server in the same run (scripts/with-redis.sh sets
// LEVEE_REDIS_ADDR; without it the benchmarks skip).
//
// Rows of BenchmarkRedisCacheTake, each run with b.RunParallel over a
// small JSON-able record:
//
//   - hit: the key is in Redis; one GET and a decode.
//   - miss: every call asks for a key of its own that is not in Redis;
//     a GET, the loader and a SET with a TTL.
//   - local-hit: with an in-process tier in front (levee's WithLocal,
//     go-redis/cache's TinyLFU), a key already in that tier.
//
// Each implementation uses its default codec: JSON for levee and go-zero,
// msgpack for go-redis/cache.
package rediscache
