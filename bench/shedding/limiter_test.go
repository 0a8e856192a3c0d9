package shedding

import (
	"context"
	"testing"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	gclcore "github.com/platinummonkey/go-concurrency-limits/core"
	gcllimit "github.com/platinummonkey/go-concurrency-limits/limit"
	gcllimiter "github.com/platinummonkey/go-concurrency-limits/limiter"
	gclstrategy "github.com/platinummonkey/go-concurrency-limits/strategy"

	"github.com/levee-go/levee/shedding"
)

// Acquire+Done of an adaptive concurrency limit, the cost every call to a
// protected dependency pays, beside failsafe-go's adaptivelimiter and
// platinummonkey/go-concurrency-limits (Vegas, its default). Each is built
// with its defaults; the calls in flight (one per goroutine) stay far below
// every limit, so nothing is rejected.

type limiterImpl struct {
	name string
	new  func(b *testing.B) func()
}

var limiterImpls = []limiterImpl{
	{"levee", func(b *testing.B) func() {
		l, err := shedding.NewLimiter()
		if err != nil {
			b.Fatal(err)
		}
		return func() {
			p, err := l.TryAcquire()
			if err != nil {
				b.Fatal(err)
			}
			p.Done(nil)
		}
	}},
	{"failsafe", func(b *testing.B) func() {
		l := adaptivelimiter.NewBuilder[any]().Build()
		return func() {
			p, ok := l.TryAcquirePermit()
			if !ok {
				b.Fatal("failsafe: rejected")
			}
			p.Record()
		}
	}},
	{"platinummonkey", func(b *testing.B) func() {
		l, err := gcllimiter.NewDefaultLimiterWithDefaults("bench", gclstrategy.NewSimpleStrategy(1000), gcllimit.NoopLimitLogger{}, gclcore.EmptyMetricRegistryInstance)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		return func() {
			lis, ok := l.Acquire(ctx)
			if !ok {
				b.Fatal("platinummonkey: rejected")
			}
			lis.OnSuccess()
		}
	}},
}

func BenchmarkLimiterAcquireDone(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		for _, impl := range limiterImpls {
			b.Run(impl.name, func(b *testing.B) {
				op := impl.new(b)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					op()
				}
			})
		}
	})
	b.Run("parallel", func(b *testing.B) {
		for _, impl := range limiterImpls {
			b.Run(impl.name, func(b *testing.B) {
				op := impl.new(b)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						op()
					}
				})
			})
		}
	})
}

// The reject path: the limit is full, each call is turned away.
func BenchmarkLimiterReject(b *testing.B) {
	l, err := shedding.NewLimiter(shedding.WithMinLimit(1), shedding.WithInitialLimit(1))
	if err != nil {
		b.Fatal(err)
	}
	p, _ := l.TryAcquire()
	defer p.Release()
	fs := adaptivelimiter.NewBuilder[any]().WithLimits(1, 1, 1).Build()
	fp, _ := fs.TryAcquirePermit()
	defer fp.Record()
	cases := []struct {
		name string
		op   func() bool
	}{
		{"levee", func() bool { _, err := l.TryAcquire(); return err != nil }},
		{"failsafe", func() bool { _, ok := fs.TryAcquirePermit(); return !ok }},
	}
	for _, c := range cases {
		b.Run("parallel/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !c.op() {
						b.Error("admitted")
						return
					}
				}
			})
		})
	}
}
