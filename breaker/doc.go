// Package breaker is an adaptive circuit breaker: client-side throttling as
// described in the Google SRE book, chapter "Handling Overload".
//
// Wrap the calls to a dependency (an Elasticsearch cluster, a database, an
// HTTP service) in a [Breaker]. While the dependency answers, the breaker
// admits every call. When it starts failing, the breaker rejects a share of
// the calls locally, at once, with [ErrServiceUnavailable], so that a
// struggling dependency is not buried under the traffic that made it
// struggle, and callers fail fast instead of queuing behind timeouts.
//
//	es, err := elasticsearch.NewClient(elasticsearch.Config{
//		Transport: breaker.Transport(http.DefaultTransport),
//	})
//
// # Algorithm
//
// Over a rolling window (10 s in 40 buckets by default) the breaker counts
// requests and accepts, and rejects each new call with probability
//
//	max(0, (requests − K·accepts − protection) / (requests + 1))
//
// With K = 1.5 it rejects nothing while at least two calls in three
// succeed; below that, it lets through about K times the share that
// succeeds (with a success rate of 20 %, 30 % of calls). Protection (5)
// keeps a few failures on a quiet service from throttling it. While it
// rejects almost everything (a probability of 0.9 or more), a probe call
// goes through at least every probe interval (500 ms) whatever the odds,
// so the breaker always learns when the dependency is back. Below 0.9 the
// formula itself admits at least one call in ten, and the probe stays out
// of its way: at low traffic, where every call comes more than a probe
// interval after the last, a probe that overrode the formula would switch
// the breaker off. So a dead dependency is throttled at any rate: in a
// total outage, once it fills the window, about 22 % of the calls are
// rejected at 1 call/s, 47 % at 2 calls/s and 65 % at 5 calls/s. Tune with [WithK], [WithWindow], [WithBuckets],
// [WithProtection] and [WithProbeInterval]; invalid values are refused by
// [New] with an error.
//
// # What counts as a request
//
// A request is a call that reached the dependency and reported an outcome;
// an accept is one that succeeded. Calls the breaker rejects locally are
// not requests. This departs from the book's reading (and go-zero's), in
// which rejected calls count as requests, and it is what lets the breaker
// recover quickly:
//
//   - Counting rejections, a breaker that rejects nearly everything sees
//     requests equal to the whole offered load but accepts only from the
//     trickle it lets through, so after the dependency heals the
//     probability falls only as fast as that trickle's accepts pile up:
//     tens of seconds at best, minutes in practice (go-zero issue #4101).
//   - Counting only what reached the dependency, requests during an outage
//     are that trickle itself, a few hundred calls. Once the dependency
//     heals, each admitted call adds K to the accepts side and the
//     admitted share grows exponentially: at 1,000 calls/s the breaker is
//     back to admitting everything about a second after the dependency
//     heals, even after a two-minute outage.
//   - The rejection probability then depends only on the dependency's
//     success rate s, not on how many calls the breaker itself rejected: in
//     steady state it admits min(1, K·s) of the calls, degrading
//     gracefully instead of collapsing to zero.
//
// The price is a larger trickle during a long total outage. With r
// requests in the window and no accepts, the breaker admits a share
// (protection+1)/(r+1) of the calls, and the window holds what it admitted
// over its length, so r settles where r ≈ √((protection+1)·rate·window):
// the square-root law. At 1,000 calls/s offered, a 10 s window and
// protection 5 that is √60,000 ≈ 245 requests per window, 2.45 % of the
// calls (the tests measure 2.4 % to 2.55 % over seconds 20 to 60 of an
// outage, from a cold start or after a healthy spell). From 20 s into an
// outage on it holds whatever came before; before that the share depends
// on what the window held when the outage began (about 1.2 % 10 to 20 s
// into an outage that follows a healthy spell, while the failures of its
// first seconds fill the window).
//
// # How fast it reacts
//
// The window's successes vouch for the dependency: after a healthy spell
// at a steady rate, a total outage starts throttling once the failures
// exceed (K−1)·accepts + protection, about a third of a window (3.3 s)
// into it, and the share admitted then falls over the rest of the window as
// the successes leave it. A shorter window ([WithWindow]) reacts faster, on
// fewer samples.
//
// When the dependency heals, the breaker opens up within a second or two,
// whether the outage was long or short. After a long one that follows from
// the accounting above. After a short one the window still holds the many
// failures admitted while the breaker was tripping, and by the formula
// alone they would hold it shut until they left the window, up to its whole
// length. So the breaker watches for change: when a bucket ends with
// successes and no failure, and so clean a bucket would be less likely than
// one in a thousand at the success rate of the rest of the window, it
// halves the failures of the earlier buckets. While the success rate holds
// steady that happens less than once in a thousand buckets, so the steady
// state (min(1, K·s) admitted) is the formula's; during an outage it never
// happens. In the tests, at 1,000 calls/s, 95 % of the calls are admitted
// again 0.1 s after a 2 s outage ends, 0.6 s after a 5 s one, about 2 s after
// a 10 s one, and 0.6 s after a 30 s or a 120 s one.
//
// # Outcomes
//
// A nil error, and an error marked acceptable with
// [WithAcceptable] (a 404 from Elasticsearch, redis.Nil), is a success. A
// call the caller canceled (context.Canceled) counts as nothing: it says
// nothing about the dependency. context.DeadlineExceeded is a failure: a
// dependency too slow for the caller's deadline is failing it. A panic is a
// failure and is re-raised. With [WithSlowCall], a success that took longer
// than a threshold is a failure too.
//
// # Using it
//
// [Breaker.Do] wraps a function; [Breaker.DoWithFallback] adds a fallback
// for rejected calls; [Breaker.Allow] returns a [Promise] to settle with
// [Promise.Accept], [Promise.Reject] or [Promise.Done] for code that cannot
// be wrapped. [Group] holds one breaker per name (host, index) created on
// first use, bounded in number (the least recently used breaker is
// evicted, never a busy one), idle ones dropped; a new name costs O(1)
// amortised and a lookup no lock; there is no package-level registry.
// [Transport] (and [NewTransport]) wraps an [net/http.RoundTripper] with
// one breaker per host (in lower case, with its default port); 5xx and 429
// responses are failures, a rejected request never reaches the network,
// and a request that is the caller's mistake gets net/http's error and
// counts against no host.
//
// [Breaker.Stats] reports the window; [WithEventHook] reports when
// throttling starts and stops.
//
// # Options
//
// Each constructor takes its own option type, so an option that does not
// apply to it is a compile error, not an error at run time: [New] takes
// [Option], [NewGroup] takes [GroupOption], [NewTransport] and [Transport]
// take [TransportOption]. A [BreakerOption] (WithK, WithWindow, WithClock,
// ...) fits all three; [WithName] fits only New; a [KeyedOption]
// ([WithMaxBreakers], [WithIdleTimeout]) fits NewGroup and NewTransport;
// [WithKey] and [WithFailureStatus] fit only NewTransport. Options are
// values, the last of a kind wins, and the constructor returns an error
// naming every invalid one.
//
// # Cost
//
// A call reads the clock once and loads a few atomics; recording its
// outcome is one atomic add, on one of eight counters picked by the calling
// goroutine so that cores finishing calls at once seldom share a cache
// line. While the dependency is healthy a call reads only memory written
// at bucket rollover or on failures, so deciding costs no cache traffic;
// only while the breaker throttles does it add up the current bucket and
// draw a random number. Nothing allocates, rejection included. The
// window's completed buckets are summed once per bucket, by the call that
// first finds the bucket over, never on every call. The clock
// ([WithClock]) and the random source ([WithRand]) can be replaced, which
// is how the tests drive the breaker through outages deterministically.
//
// The package starts no goroutines and installs nothing on import.
package breaker
