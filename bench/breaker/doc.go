// Package breaker benchmarks levee's adaptive breaker beside its peers:
// go-zero's core/breaker and go-kratos/aegis (the same Google SRE
// algorithm), sony/gobreaker with a rolling window, and failsafe-go's
// time-based and count-based circuit breakers. It also checks the breaker
// in front of the real Elasticsearch Go client.
//
// Rows, each run with b.RunParallel:
//
//   - BenchmarkBreakerAllow: ask, then report success (the two-step form).
//   - BenchmarkBreakerDo: the wrapping form around an empty function.
//   - BenchmarkBreakerReject: the same ask on a breaker that is open or
//     throttling after a total outage, so nearly every call is rejected.
package breaker
