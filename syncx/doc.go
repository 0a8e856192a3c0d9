// Package syncx holds the concurrency helpers a resilient service needs and
// the standard library does not give: call deduplication, a bulkhead
// semaphore, per-key serialization, shared per-key resources and a lazily
// fetched value that retries its failures.
//
// # Deduplicating calls
//
// [SingleFlight] runs one function per key at a time and shares its result
// with every caller that asked meanwhile: a cache miss under load makes one
// database query, not a thousand. [SingleFlight.DoContext] lets each caller
// stop waiting on its own context while the call goes on for the others,
// and cancels the call only when every caller has gone. A panic in the
// function is re-raised in every caller as a [*PanicError] carrying the
// original stack; [runtime.Goexit] is told apart from a panic
// ([ErrGoexit]).
//
// # Bulkheads
//
// [Limit] is a counting semaphore that caps concurrent use of a dependency:
// [Limit.TryAcquire] and [Limit.Release] are lock-free while permits are
// free, [Limit.Acquire] queues callers first come, first served and
// honours their context without ever losing a permit.
//
// # Per-key serialization and resources
//
// [LockedCalls] runs calls with the same key one after another, each with
// its own result. [ResourceManager] creates one [io.Closer] per key on first
// use, even under concurrent first use, and closes them all at the end.
// [Lazy] fetches a value on first use, keeps it, and retries a failed fetch
// no more often than a set interval, on an injectable [Clock].
//
// # What is not here
//
// go-zero's core/syncx, which inspired this package, also has helpers that
// the standard library has caught up with by Go 1.22; use those instead:
//
//   - AtomicBool, AtomicDuration: [sync/atomic.Bool], [sync/atomic.Int64]
//     holding a [time.Duration].
//   - AtomicFloat64: [sync/atomic.Uint64] with [math.Float64bits] and
//     [math.Float64frombits].
//   - Once: [sync.OnceFunc], [sync.OnceValue], [sync.OnceValues].
//   - OnceGuard: [sync/atomic.Bool.CompareAndSwap](false, true).
//   - DoneChan: a channel closed through [sync.OnceFunc].
//   - Barrier and Guard: mu.Lock(); defer mu.Unlock().
//   - TimeoutLimit and Cond.WaitWithTimeout: [Limit.Acquire] with a
//     [context.WithTimeout] context; a context also carries cancellation,
//     which a timeout alone does not.
//
// Left out on purpose: SpinLock (an unbounded Gosched loop; [sync.Mutex]
// already spins briefly before parking, and does not starve anyone), and the
// reference-counted and self-healing resource holders (RefResource,
// ManagedResource) and the object Pool, which are too specific to earn a
// place next to [sync.Pool] and [ResourceManager]. A DoChan-style form of
// [SingleFlight] is missing too: [SingleFlight.DoContext] covers its use
// (waiting with a way out), and a channel cannot re-raise a panic in its
// reader.
package syncx
