// Package shedding turns excess work away when a process or a dependency is
// overloaded: a BBR-style adaptive load shedder for servers, reading CPU
// correctly inside containers, with priority classes and HTTP middleware.
//
// When a server runs hot, every request it accepts slows every other one
// down, until all of them time out. A [Shedder] notices the overload and
// answers the excess at once with [ErrShed] (503 with Retry-After through
// [Middleware]), so the requests it keeps are served in time.
//
//	s, err := shedding.New() // CPU of the container, 900‰ threshold
//	defer s.Close()
//	http.ListenAndServe(":8080", shedding.Middleware(s)(mux))
//
// # Shedder
//
// The algorithm is BBR, as in go-zero's adaptive shedder. Over a rolling
// window (5 s in 50 buckets of 100 ms, [WithShedWindow], [WithBuckets]) the
// shedder learns the most requests finished in one bucket (MaxPass) and the
// least mean round trip of a bucket (MinRT). By Little's law the server can
// keep
//
//	bound = MaxPass × MinRT / bucket length
//
// requests in flight without queueing. A request is shed when the load is
// at or above the threshold (900‰, [WithThreshold]) and the in-flight count
// exceeds the bound (at the onset of an overload, its smoothed value too,
// [WithFlyingSmoothing], so that a momentary burst passes): an
// overloaded server that is not queueing sheds nothing, and neither does a
// queueing server that is not overloaded. After the load falls below the
// threshold the shedder keeps shedding above the bound for a cool-off (1 s,
// [WithCoolOff]) if it shed anything while overloaded, since the signal lags
// the backlog. While the window holds no finished request the round trip is
// taken to be 1 s ([WithColdRT]), which sets a large bound. Whatever the
// bound, nothing is shed while at most 4 requests are in flight
// ([WithMinInFlight]): low traffic, whose window says little, is never
// shed. The load is read,
// and the bound recomputed, once per bucket, so shedding starts within one
// bucket of the load crossing the threshold. Every tunable is validated by
// [New], which refuses invalid values with an error naming them.
//
// [Shedder.Allow] admits or sheds; an admitted request's [Token] is settled
// with [Token.Pass] (its round trip counts) or [Token.Fail] (it does not,
// so that fast errors do not make the server look fast).
//
// # Priorities
//
// Requests come in three classes: [Sheddable], [Default] and [Critical],
// served by one shedder. Under overload the shedder holds the in-flight
// count at the bound with the marginal class, the highest class it had to
// shed in the last bucket; each class above it may take the count a
// headroom of a quarter of the bound further ([WithPriorityHeadroom]), each
// class below it is shed a quarter of the bound earlier. A flood of
// Sheddable requests is therefore shed while Default and Critical ones
// pass, a flood of Default ones is shed before any Critical one, and
// whichever class is marginal keeps the server at its bound: holding the
// count below the bound would shrink the bound bucket after bucket (the
// server would seem to do less), above it would grow it (the round trips
// would seem to grow).
//
// # Overload signals
//
// The default signal, [CPU], is the CPU usage of the process's cgroup as a
// share of the CPUs it may use, min(quota, cpuset, runtime.NumCPU()), in
// permille. The process's cgroup is found from /proc/self/cgroup and
// /proc/self/mountinfo, so nested cgroups, cgroup namespaces and containers
// whose own subtree is mounted at /sys/fs/cgroup all read their own
// figures:
//
//   - cgroup v2: cpu.stat usage_usec, the tightest cpu.max from the
//     process's cgroup up to the mount (a quota set on a parent counts), and
//     cpuset.cpus.effective;
//   - cgroup v1: cpuacct.usage, cpu.cfs_quota_us / cpu.cfs_period_us up the
//     cpu hierarchy, and cpuset.cpus; when the cpu controller is bound to
//     v1 (the hybrid layout) v1 is tried first;
//   - the host: /proc/stat on Linux; gopsutil elsewhere (macOS, Windows),
//     the only use of that dependency, which Linux builds do not link.
//
// The first source of the chain that can be read is used, and [Stats] says
// which. A reading that fails later keeps the last load and sends the
// sampler down the chain again. If none can be read, [New] returns an error
// matching [ErrNoSignal]: the shedder never runs on a silent 0.
//
// [Pressure] reads the kernel's CPU pressure stall information instead: the
// share of time some task of the cgroup (cpu.pressure), or of the host
// (/proc/pressure/cpu), waited for a CPU. It measures queueing for the CPU
// directly; thresholds of 200‰ to 500‰ suit it.
//
// Samples are taken every 250 ms ([WithSampleInterval]) and smoothed
// exponentially ([WithLoadSmoothing]) by one goroutine shared by the
// shedders that use the same signal and sampling. It starts with the first
// such shedder and stops when the last one is closed ([Shedder.Close]
// waits for it); importing the package starts nothing.
//
// Any other signal fits through [WithLoadSource]: a [LoadSource] or a
// [LoadFunc] returning a permille load (a queue length, a GC signal, a
// test's fake), read once per bucket. No goroutine is started then.
//
// # HTTP
//
// [Middleware] (and [NewMiddleware], which returns invalid options as an
// error) wraps an [net/http.Handler]: a shed request gets 503 Service
// Unavailable with a Retry-After header ([WithRetryAfter]) and never
// reaches the handler; [WithClassifier] picks the class from the request; a
// 5xx written by the handler ([WithFailureStatus]) and a panic count as
// failures, and the panic goes on.
//
// # Observability
//
// [Shedder.Stats] reports the source, the load, the in-flight count and
// bound, and per class the requests admitted and dropped. [WithEventHook]
// is told when shedding starts and stops, outside the shedder's locks;
// [WithLogger] logs those transitions through a *slog.Logger at most once
// per interval. A drop is never logged by itself.
//
// # Cost
//
// Allow reads the clock once, loads the current bucket's decision state
// (written only at bucket boundaries) and adds to a counter striped across
// cache lines; it sums the in-flight counters only while the process is
// overloaded or cooling off. Nothing allocates, shedding included, and the
// drop path does no more work than the admit path.
//
// # Adaptive concurrency limit
//
// A [Limiter] guards a dependency rather than the process: it caps the
// calls in flight to it and moves the cap with the dependency's latency (a
// gradient limit of the TCP Vegas family, described on [Limiter]), so that
// a flood of callers keeps the dependency busy at its capacity with a short
// queue instead of drowning it in a queue that outlives the flood. It fits
// a dependency you cannot change, such as an Elasticsearch cluster: in
// front of a client, [Transport] (one limit per host) is an
// [net/http.RoundTripper] for the client's configuration; in front of a
// server's own handlers, [LimiterMiddleware] answers 503 with Retry-After.
// Calls take a [Permit] with [Limiter.Acquire] or [Limiter.TryAcquire] and
// report with [Permit.Done], or run under [Limiter.Do]. Priority classes
// share one limit; rejections match [ErrLimited].
//
// Use the limit for a dependency that slows down when too much is sent to
// it, and a breaker (levee's breaker module) for one that fails: with both,
// put the limit outermost, shedding.Transport(breaker.Transport(base)), so
// that its rejections are not counted as the dependency's failures.
package shedding
