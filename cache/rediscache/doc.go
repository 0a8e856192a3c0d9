// Package rediscache is a cache-aside layer over Redis for a fleet of
// service instances in front of one database: [Cache.Take] returns a key's
// value from Redis, or loads it from the database and stores it for the
// next caller, whichever instance that caller runs in.
//
//	users, err := rediscache.New[User](rdb, rediscache.WithTTL(10*time.Minute))
//	u, err := users.Take(ctx, id, loadUser) // loadUser(ctx, id) queries the database
//
// rdb is any go-redis v9 [redis.UniversalClient]: a single node, Sentinel
// or Cluster. Keys are not hash-tagged, so a Cluster spreads them over its
// slots; multi-key calls are pipelined per key and work across slots.
//
// # What reaches the database
//
// Concurrent Takes of one key in an instance share one load (the loader
// runs on a goroutine of its own, detached from any single caller's
// context; see [Cache.Take]). A key the loader reports missing
// ([ErrNotFound]) is remembered by a placeholder in Redis for the
// not-found TTL ([WithNotFoundTTL]), so a flood of lookups of keys that do
// not exist (penetration) reaches the database once per key and TTL. Every
// TTL is spread by ±5% ([WithJitter]), so keys written in a burst do not
// expire in one (avalanche).
//
// Across instances, [WithLease] makes a hot key that expires (breakdown)
// load once in the fleet: the instance that wins a short lease in Redis
// (SET NX PX) loads; the others poll for the value up to a bound, then load
// themselves. With [WithStale], values stay in Redis for a while after
// their TTL, and the losers of the lease serve the stale value at once
// instead of waiting; a failed reload serves it too.
//
// # When Redis fails
//
// [WithRedisErrorPolicy] chooses: [FailFast] (the default) returns an
// error matching [ErrUnavailable], so an outage of the cache does not send
// the whole read load to the database; [LoadOnError] calls the loader,
// still once per key at a time in the instance. Once a command has failed,
// the cache does not wait for Redis on every call: one call at a time,
// at most every 50 ms, probes it, with at most half of its remaining time,
// and the others apply the policy at once. No call outlives its context,
// but a command already sent is bounded only by the client's own
// timeouts unless the client has ContextTimeoutEnabled: set it. [Stats]
// and the event hook ([WithEventHook]) report outages, corrupt values and
// lease waits; [WithLogger] logs them once per transition.
//
// # Values
//
// Values are encoded by a [Codec]: [JSON] by default, or msgpack,
// protobuf or anything else a user plugs in with [WithCodec]. A hit
// decodes the bytes once; callers that share a load get the loaded value
// itself, never a re-encoded copy. A value that does not decode (or was
// not written by this package) is deleted, loaded again, counted in
// [Stats].Corrupt and reported as [EventCorrupt].
//
// In Redis a value is one byte of format, its freshness deadline (8 bytes,
// Unix milliseconds), then the codec's bytes; a not-found placeholder is
// one zero byte. TTLs are kept to the millisecond: a TTL under a second
// stays under a second.
//
// # The local tier
//
// [WithLocal] puts a small in-process cache (levee's cache package) in
// front of Redis for hot keys: a hit costs a map lookup and no allocation.
// [Cache.Set] and [Cache.Delete] update it at once in the instance that
// calls them, a Set replacing the old value; other instances keep their
// copy until its local TTL runs out, so the local TTL bounds how stale the
// fleet may read.
//
// # Errors and panics
//
// [ErrNotFound] is [cache.ErrNotFound], so one loader serves the
// in-process cache and this one. A panic in a loader is re-raised in every
// caller sharing the load, as a [*syncx.PanicError].
package rediscache
