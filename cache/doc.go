// Package cache is a bounded in-process cache with expiry and a loader
// that shields the data source behind it from the three classic failures:
// penetration (lookups of keys that do not exist all reaching the source),
// breakdown (a hot key expiring and every reader loading it at once) and
// avalanche (keys written together expiring together). It needs Go 1.22
// and nothing outside the standard library but levee's syncx.
//
//	users, err := cache.New[int, User](10_000, cache.WithTTL(5*time.Minute))
//	defer users.Close()
//	u, err := users.Take(ctx, id, func(ctx context.Context) (User, error) {
//		return db.User(ctx, id) // returns cache.ErrNotFound for no such user
//	})
//
// # Loading
//
// [Cache.Take] returns the cached value or runs the loader. Concurrent
// misses of one key run the loader once, on a goroutine of its own; each
// caller waits only as long as its own context allows, and the load runs
// with the first caller's context values but none of the callers'
// deadlines, so one impatient caller cannot fail the load for the others,
// and a load whose callers all left still fills the cache. Errors are
// handed to every waiting caller and not cached. [Cache.TakeMany] loads
// the missing keys of a batch in one call, joining loads of the same keys
// already in flight.
//
// A loader that returns [ErrNotFound] is remembered for the not-found TTL
// ([WithNotFoundTTL], one minute by default), so a flood of lookups of a
// missing key reaches the source once per minute.
//
// # Expiry
//
// Every time to live is jittered ([WithJitter], ±5% by default), so keys
// written in one burst expire over a spread instead of at one instant.
// Expiry is checked on read; nothing scans the cache in the background:
// an expired entry stays until it is read, replaced or evicted (eviction
// takes expired entries first when it meets them), so the capacity bounds
// it like any other.
// With [WithStaleGrace], an expired entry whose reload fails is served for
// a bounded grace period, marked [SourceStale] by [Cache.TakeResult]. With
// [WithRefreshAfter], an entry older than the refresh age is reloaded in
// the background by one caller while every caller keeps getting the
// current value.
//
// # Eviction
//
// The cache holds at most its capacity in entries (or in weight, with
// [WithWeigher]). It is split into shards, each with a read-write lock and
// its own share of the capacity, evicting by S3-FIFO: new keys go through
// a small probationary queue, keys read again move to the main queue, and
// keys evicted from probation are remembered (as ghosts) so that their
// return goes straight to the main queue. A read only bumps a saturating
// counter under the shard's read lock, allocates nothing and never waits
// for a writer of another shard. On a Zipf workload its hit ratio is above
// LRU's and close to W-TinyLFU's (see README.md for the figures).
//
// A [Cache.Set] is visible to every Get that starts after it returns:
// writes are not buffered or dropped.
//
// # Consistency
//
// [Cache.Set], [Cache.Delete] and [Cache.Clear] win over a load of the
// same key that is in flight: its result still goes to the callers
// waiting for it, but it is not stored, so no value loaded before a Delete
// returned is in the cache after it.
//
// # Goroutines
//
// [New] starts no goroutine. Loads and refreshes run on goroutines of their
// own; [Cache.Close] cancels their context and waits for them.
//
// # Observing
//
// [Cache.Stats] counts hits, misses, remembered not-founds, loads, load
// errors, stale values served, refreshes and evictions. [WithEventHook]
// reports failed loads and refreshes and stale values served as they
// happen.
package cache
