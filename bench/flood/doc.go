// Package flood is the flood demo behind `go run ./bench/cmd/flood`: a
// simulated Elasticsearch node of finite capacity, an open-loop load of
// searches through the real Elasticsearch Go client, a traffic surge, and
// the same run repeated for each protection (levee's breaker, adaptive
// concurrency limit and shedder, and their peers from go-zero and
// failsafe-go), each on a fresh backend in a process of its own.
//
// # The backend
//
// [Backend] answers enough of the Elasticsearch HTTP API for the client
// (the product header, `GET /`, `_cluster/health`, `_search`, JSON error
// bodies). It has a fixed pool of workers; each search holds one worker
// for its service time, so the capacity is workers / service time. Part of
// the service time is real work: the worker scores a synthetic document
// set on the CPU for a number of iterations calibrated at start-up to take
// [Config.CPUWork] on this machine; the rest is waiting (the shard reads of
// a real node). Waiting rather than spinning keeps the capacity the same
// whatever else the machine runs, so variants are compared on equal terms.
//
// Like the crushed cluster of levee's story, the default backend queues
// without bound (FIFO), keeps working on searches whose callers have given
// up, and gets slower per search as its queue grows. The slowdown models
// memory pressure: every queued search holds its parsed query and result
// buffers on the heap, and the collector's work grows with the heap, so a
// search that starts while q others wait takes
//
//	service time × min(MaxSlowdown, 1 + q / PressureQueue)
//
// (twice as long with one second of capacity queued, by default). The
// extra time is waiting, not CPU, for the reason above. With
// [Config.Backend] = "admission" the node instead applies Elasticsearch's
// own admission control: a bounded search queue that answers 429
// es_rejected_execution_exception when full.
//
// # The service
//
// The load is open-loop: searches arrive at the offered rate (Poisson, a
// fixed seed, the same sequence for every variant) whatever the answers,
// each through the go-elasticsearch v8 client (esapi over
// elastic-transport, which is what elasticsearch.NewClient builds, minus
// the typed API that takes minutes to compile) with a per-request timeout.
// The client keeps its default retries (on 502, 503 and 504, at most 3, no
// back-off) but does not retry a guard's local rejection or an expired
// context.
package flood
