package breaker

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fscb "github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/go-kratos/aegis/circuitbreaker/sre"
	"github.com/sony/gobreaker/v2"
	zero "github.com/zeromicro/go-zero/core/breaker"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/levee-go/levee/breaker"
)

var errDown = errors.New("down")

// Every peer is configured with the same window where it has one: 10 s in
// 40 buckets of 250 ms.
const (
	window  = 10 * time.Second
	buckets = 40
)

func newLevee(b *testing.B) *breaker.Breaker {
	br, err := breaker.New(breaker.WithWindow(window), breaker.WithBuckets(buckets))
	if err != nil {
		b.Fatal(err)
	}
	return br
}

func newGobreaker() *gobreaker.TwoStepCircuitBreaker[struct{}] {
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         "bench",
		Interval:     window,
		BucketPeriod: window / buckets,
		Timeout:      time.Minute,
	})
}

func newGobreakerExec() *gobreaker.CircuitBreaker[struct{}] {
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         "bench",
		Interval:     window,
		BucketPeriod: window / buckets,
		Timeout:      time.Minute,
	})
}

func newAegis() *sre.Breaker {
	return sre.NewBreaker(sre.WithWindow(window), sre.WithBucket(buckets)).(*sre.Breaker)
}

func newFailsafeTime() fscb.CircuitBreaker[any] {
	return fscb.NewBuilder[any]().
		WithFailureRateThreshold(0.5, 10, window).
		WithDelay(time.Minute).
		Build()
}

func newFailsafeCount() fscb.CircuitBreaker[any] {
	return fscb.NewBuilder[any]().
		WithFailureThresholdRatio(5, 10).
		WithDelay(time.Minute).
		Build()
}

func parallel(b *testing.B, op func()) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op()
		}
	})
}

// BenchmarkBreakerAllow: ask the breaker, then report a success.
func BenchmarkBreakerAllow(b *testing.B) {
	b.Run("levee", func(b *testing.B) {
		br := newLevee(b)
		parallel(b, func() {
			if p, err := br.Allow(); err == nil {
				p.Accept()
			}
		})
	})
	b.Run("gozero", func(b *testing.B) {
		br := zero.NewBreaker()
		parallel(b, func() {
			if p, err := br.Allow(); err == nil {
				p.Accept()
			}
		})
	})
	b.Run("gobreaker", func(b *testing.B) {
		br := newGobreaker()
		parallel(b, func() {
			if done, err := br.Allow(); err == nil {
				done(nil)
			}
		})
	})
	b.Run("aegis", func(b *testing.B) {
		br := newAegis()
		parallel(b, func() {
			if br.Allow() == nil {
				br.MarkSuccess()
			}
		})
	})
	b.Run("failsafetime", func(b *testing.B) {
		br := newFailsafeTime()
		parallel(b, func() {
			if br.TryAcquirePermit() {
				br.RecordSuccess()
			}
		})
	})
	b.Run("failsafecount", func(b *testing.B) {
		br := newFailsafeCount()
		parallel(b, func() {
			if br.TryAcquirePermit() {
				br.RecordSuccess()
			}
		})
	})
}

// BenchmarkBreakerDo: the wrapping form around a function that succeeds.
// aegis has no wrapping form; its row is what its users write.
func BenchmarkBreakerDo(b *testing.B) {
	b.Run("levee", func(b *testing.B) {
		br := newLevee(b)
		ctx := context.Background()
		fn := func(context.Context) error { return nil }
		parallel(b, func() { _ = br.Do(ctx, fn) })
	})
	b.Run("gozero", func(b *testing.B) {
		br := zero.NewBreaker()
		fn := func() error { return nil }
		parallel(b, func() { _ = br.Do(fn) })
	})
	b.Run("gobreaker", func(b *testing.B) {
		br := newGobreakerExec()
		fn := func() (struct{}, error) { return struct{}{}, nil }
		parallel(b, func() { _, _ = br.Execute(fn) })
	})
	b.Run("aegis", func(b *testing.B) {
		br := newAegis()
		fn := func() error { return nil }
		parallel(b, func() {
			if br.Allow() != nil {
				return
			}
			if fn() != nil {
				br.MarkFailed()
			} else {
				br.MarkSuccess()
			}
		})
	})
	b.Run("failsafetime", func(b *testing.B) {
		ex := failsafe.With[any](newFailsafeTime())
		fn := func() error { return nil }
		parallel(b, func() { _ = ex.Run(fn) })
	})
	b.Run("failsafecount", func(b *testing.B) {
		ex := failsafe.With[any](newFailsafeCount())
		fn := func() error { return nil }
		parallel(b, func() { _ = ex.Run(fn) })
	})
}

// BenchmarkBreakerReject: the ask on a breaker driven open (or to full
// throttling) by a total outage first. The SRE breakers still let a few
// calls through; those report failures, which keeps them throttling.
func BenchmarkBreakerReject(b *testing.B) {
	const outage = 1000
	b.Run("levee", func(b *testing.B) {
		br := newLevee(b)
		op := func() {
			if p, err := br.Allow(); err == nil {
				p.Reject()
			}
		}
		for range outage {
			op()
		}
		parallel(b, op)
	})
	b.Run("gozero", func(b *testing.B) {
		logx.Disable() // it logs every rejection otherwise
		br := zero.NewBreaker()
		op := func() {
			if p, err := br.Allow(); err == nil {
				p.Reject("down")
			}
		}
		for range outage {
			op()
		}
		parallel(b, op)
	})
	b.Run("gobreaker", func(b *testing.B) {
		br := newGobreaker()
		op := func() {
			if done, err := br.Allow(); err == nil {
				done(errDown)
			}
		}
		for range outage {
			op()
		}
		if br.State() != gobreaker.StateOpen {
			b.Fatalf("gobreaker is %v, want open", br.State())
		}
		parallel(b, op)
	})
	b.Run("aegis", func(b *testing.B) {
		br := newAegis()
		op := func() {
			if br.Allow() == nil {
				br.MarkFailed()
			}
		}
		for range outage {
			op()
		}
		parallel(b, op)
	})
	for _, fs := range []struct {
		name string
		make func() fscb.CircuitBreaker[any]
	}{{"failsafetime", newFailsafeTime}, {"failsafecount", newFailsafeCount}} {
		b.Run(fs.name, func(b *testing.B) {
			br := fs.make()
			op := func() {
				if br.TryAcquirePermit() {
					br.RecordFailure()
				}
			}
			for range outage {
				op()
			}
			if !br.IsOpen() {
				b.Fatalf("%s is %v, want open", fs.name, br.State())
			}
			parallel(b, op)
		})
	}
}

// BenchmarkBreakerGroupDo: the wrapping form on a breaker looked up by
// name among 16, as per-host or per-index breakers are. go-zero keeps its
// named breakers in a package-level registry.
func BenchmarkBreakerGroupDo(b *testing.B) {
	names := make([]string, 16)
	for i := range names {
		names[i] = "es-" + string(rune('a'+i)) + ":9200"
	}
	b.Run("levee", func(b *testing.B) {
		g, err := breaker.NewGroup(breaker.WithWindow(window), breaker.WithBuckets(buckets))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		fn := func(context.Context) error { return nil }
		parallelNamed(b, names, func(name string) { _ = g.Do(ctx, name, fn) })
	})
	b.Run("gozero", func(b *testing.B) {
		fn := func() error { return nil }
		parallelNamed(b, names, func(name string) { _ = zero.Do(name, fn) })
	})
}

// parallelNamed is parallel cycling through names, each goroutine on its own.
func parallelNamed(b *testing.B, names []string, op func(name string)) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			op(names[i%len(names)])
			i++
		}
	})
}

// BenchmarkBreakerGroupChurn: a new name on every call, as a Transport in
// front of per-pod or per-tenant hosts sees, with levee's group at its
// default cap of 1,024 breakers (full, so every new name evicts one).
// go-zero's package-level registry has no cap and never drops a breaker:
// it grows by one breaker per new name for the life of the process.
func BenchmarkBreakerGroupChurn(b *testing.B) {
	names := func(b *testing.B, prefix string) []string {
		ns := make([]string, b.N)
		for i := range ns {
			ns[i] = prefix + strconv.Itoa(i)
		}
		return ns
	}
	b.Run("levee", func(b *testing.B) {
		g, err := breaker.NewGroup(breaker.WithWindow(window), breaker.WithBuckets(buckets))
		if err != nil {
			b.Fatal(err)
		}
		for i := range breaker.DefaultMaxBreakers {
			g.Get("warm-" + strconv.Itoa(i))
		}
		ns := names(b, "host-")
		churn(b, ns, func(name string) { g.Get(name) })
	})
	b.Run("gozero", func(b *testing.B) {
		// Names unique to this run: the registry outlives it.
		ns := names(b, "host-"+strconv.Itoa(int(gozeroChurnRun.Add(1)))+"-")
		churn(b, ns, func(name string) { zero.GetBreaker(name) })
	})
}

var gozeroChurnRun atomic.Int64

// churn calls op once per name, each name once, from parallel goroutines.
func churn(b *testing.B, names []string, op func(name string)) {
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op(names[next.Add(1)-1])
		}
	})
}

// BenchmarkBreakerNew: making one breaker, the part of a new name in
// BenchmarkBreakerGroupChurn that is the breaker itself.
func BenchmarkBreakerNew(b *testing.B) {
	b.Run("levee", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := breaker.New(breaker.WithWindow(window), breaker.WithBuckets(buckets)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gozero", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = zero.NewBreaker()
		}
	})
}
