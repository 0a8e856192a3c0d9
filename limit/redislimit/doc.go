// Package redislimit holds rate limiters whose state lives in Redis, so a
// whole fleet of instances shares one limit: a token bucket (GCRA) and fixed
// and sliding windows, each one Lua script and one round trip per decision,
// with a local fallback for when Redis goes away.
//
// A [Limiter] returns the [limit.Result] of the levee limit module and
// implements [limit.KeyedLimiter], so limit's HTTP middleware works on top of
// it unchanged.
//
// # Decisions
//
// Each call runs its script with EVALSHA (reloading it with EVAL when the
// server answers NOSCRIPT: a restart, SCRIPT FLUSH, a new Cluster node). The
// scripts read the time with TIME on the Redis server, in microseconds, so
// instances whose clocks disagree still share one schedule; stored state
// never moves backwards, so a server clock that steps back (a failover to a
// replica whose clock is behind) cannot hand out the same tokens twice; every
// key gets a TTL of at least a millisecond, until it would hold nothing. A
// key is the prefix followed by the caller's key in braces,
// "levee:rl:{1.2.3.4}", a Redis Cluster hash tag; each decision touches one
// key, so there is never a CROSSSLOT error. Any go-redis v9
// [redis.UniversalClient] works: single node, Sentinel, Cluster, Ring.
//
// # When Redis goes away
//
// A call that cannot reach Redis within the timeout ([WithTimeout], 50ms by
// default) is decided by the fallback ([WithFallback]): by default a local
// limiter of the limit module at the global limit divided by the number of
// instances ([WithInstances]), so the fleet keeps about the global limit; or
// allow everything, or deny everything. From that first failure on, calls go
// straight to the fallback without trying Redis; one background probe per
// limiter asks Redis every probe interval ([WithProbeInterval]) and switches
// back when it answers. Right after the switch back, the fleet can exceed
// the global limit by at most one fallback window's worth (the burst the
// local limiters still held, next to a Redis bucket that refilled meanwhile).
// A caller's own cancelled or expired ctx is returned as its error and never
// counts as an outage; neither does an error reply about the data (a key of
// the wrong type, corrupt state), which is returned to the caller.
// [Limiter.Stats] and [WithEventHook] report the mode and every switch.
//
// The client must honour context deadlines: go-redis does so only with
// ContextTimeoutEnabled: true (otherwise it waits ReadTimeout, 3s by
// default, for a stalled server), and the constructors refuse a
// *redis.Client, *redis.ClusterClient or *redis.Ring without it. go-redis
// itself stops dialing a node for up to a second after PoolSize failed
// dials in a row, which can delay the switch back after a long outage by
// that second.
//
// # Leasing
//
// [WithLease] lets an instance take a batch of tokens in one round trip and
// spend them locally, and remember a denial until its retry-after: round
// trips fall to about 1/batch below the limit. The fleet never admits more
// than the bucket hands out in total, but in any interval it may admit up to
// instances × (batch-1) more than an exact limiter, and leased tokens left
// unspent are lost (fewer admitted, never more). Measured figures are in the
// README.
package redislimit
