// Package redislimit benchmarks levee's Redis-backed limiters
// (limit/redislimit) beside go-redis/redis_rate, go-zero's TokenLimiter and
// PeriodLimit, and ulule/limiter's Redis store, all on the same throwaway
// redis-server (LEVEE_REDIS_ADDR, started by scripts/with-redis.sh). Each
// leaf reports trips/op, the round trips to Redis per call, counted by a
// go-redis hook on the clients.
package redislimit
