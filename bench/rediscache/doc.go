// Package rediscache benchmarks levee's cache/rediscache beside its peers,
// go-redis/cache (v9) and go-zero's core/stores/cache, on the same
// redis-server in the same run (scripts/with-redis.sh sets
// LEVEE_REDIS_ADDR; without it the benchmarks skip).
//
// Rows of BenchmarkRedisCacheTake, each run with b.RunParallel over a
// small record (four fields):
//
//   - hit/<codec>: the key is in Redis; one round trip and a decode.
//   - miss/<codec>: every call asks for a key of its own that is not in
//     Redis; a look-up, the loader and a SET with a TTL.
//   - local-hit: with an in-process tier in front (levee's WithLocal,
//     go-redis/cache's TinyLFU), a key already in that tier.
//
// In hit and miss every implementation uses the same codec: json (levee's
// default, go-zero's only one, go-redis/cache given json.Marshal and
// json.Unmarshal) or msgpack (go-redis/cache's default, levee given a
// msgpack Codec), so the rows compare the caches, not the encodings.
// local-hit uses each one's default.
package rediscache
