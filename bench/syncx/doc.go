// Package syncx benchmarks levee's syncx module against its peers:
// SingleFlight against golang.org/x/sync/singleflight (xsync) and go-zero's
// core/syncx (gozero), and Limit against a buffered-channel semaphore
// (chan), golang.org/x/sync/semaphore (xsync) and go-zero's Limit (gozero).
package syncx
