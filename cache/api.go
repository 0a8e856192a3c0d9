package cache

import "errors"

// ErrNotFound is what a loader returns to say that the key does not exist
// in the data source. The cache remembers the answer for the not-found TTL
// ([WithNotFoundTTL]), so further lookups of that key return ErrNotFound
// without calling a loader. A loader may wrap it; errors.Is is used.
var ErrNotFound = errors.New("cache: not found")

// ErrClosed is returned by [Cache.Take], [Cache.TakeResult] and
// [Cache.TakeMany] when a load would be needed after [Cache.Close].
var ErrClosed = errors.New("cache: closed")

// Source tells where the value returned by [Cache.TakeResult] came from.
type Source uint8

const (
	// SourceCache: a fresh entry of the cache; no loader ran.
	SourceCache Source = iota
	// SourceLoader: a load ran for this call (this caller's or one it
	// joined) and its value is returned.
	SourceLoader
	// SourceStale: the entry had expired, its reload failed or the
	// caller's context ended first, and the expired value is returned
	// within the grace period of [WithStaleGrace].
	SourceStale
)

// String returns "cache", "loader" or "stale".
func (s Source) String() string {
	switch s {
	case SourceCache:
		return "cache"
	case SourceLoader:
		return "loader"
	case SourceStale:
		return "stale"
	}
	return "unknown"
}

// Result is a value returned by [Cache.TakeResult] and where it came from.
type Result[V any] struct {
	Value  V
	Source Source
}

// Stale reports whether Value is an expired value served within the grace
// period because its reload did not succeed.
func (r Result[V]) Stale() bool { return r.Source == SourceStale }

// Stats is a snapshot of a cache's counters since [New]. Counters are read
// one by one, not atomically together.
type Stats struct {
	Hits          int64 // Get and Take calls that found a fresh value
	Misses        int64 // Get and Take calls that found no fresh value
	NotFoundHits  int64 // lookups answered by a remembered ErrNotFound
	Loads         int64 // loader calls started (a batch call counts once)
	LoadErrors    int64 // loader calls that failed with an error other than ErrNotFound
	StaleServed   int64 // expired values returned within the grace period
	Refreshes     int64 // background refreshes started
	RefreshErrors int64 // background refreshes that failed
	Evictions     int64 // entries removed to make room
	Entries       int64 // entries held now, negative ones and expired ones included
	Weight        int64 // their total weight (equal to Entries without a weigher)
}

// EventKind tells what an [Event] reports.
type EventKind uint8

const (
	// EventLoadError: a loader (single or batch) failed.
	EventLoadError EventKind = iota + 1
	// EventRefreshError: a background refresh failed; the entry is kept.
	EventRefreshError
	// EventStaleServed: an expired value was returned within the grace period.
	EventStaleServed
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventLoadError:
		return "load-error"
	case EventRefreshError:
		return "refresh-error"
	case EventStaleServed:
		return "stale-served"
	}
	return "unknown"
}

// Event is passed to the hook of [WithEventHook].
type Event struct {
	Kind EventKind
	// Err is the loader's error (for EventStaleServed, the error or context
	// end that made the stale value be served).
	Err error
}
