// Package cache is a bounded in-process cache with expiry and a loader that
// shields the data source behind it from stampedes, misses and avalanches.
//
// The API is settled; the skeleton implementation behind it is being
// replaced by the sharded one described in README.md.
package cache
