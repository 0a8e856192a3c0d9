package shedding

import (
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/go-kratos/aegis/ratelimit"
	"github.com/go-kratos/aegis/ratelimit/bbr"
	"github.com/zeromicro/go-zero/core/load"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/levee-go/levee/shedding"
)

// The server-side shedders: levee's BBR shedder beside go-zero's
// core/load adaptive shedder, go-kratos/aegis ratelimit/bbr and
// failsafe-go's adaptive limiter. Every BBR shedder gets go-zero's window
// (5 s in 50 buckets).
//
// Pass path: the process is calm (levee reads a load source fixed at 0;
// the peers, which read the CPU themselves, get a threshold above 1000‰),
// so every request is admitted and reported a success.
//
// Drop path: the process is overloaded (levee's load source reads 1000‰;
// the peers get a threshold of 0) and more requests are held in flight than
// any bound, so every request is shed. failsafe-go's limiter is held at its
// limit of 1. go-zero formats and logs a message on every drop; its logging
// is disabled here, the formatting is not.

const (
	window  = 5 * time.Second
	buckets = 50
	held    = 200 // requests offered, and those admitted held in flight, before the drop path
)

type shedImpl struct {
	name string
	// pass returns an Allow+Pass; drop returns an Allow that must shed,
	// and a function releasing what it holds.
	pass func(b *testing.B) func()
	drop func(b *testing.B) (func(), func())
}

func leveeShedder(b *testing.B, load int64) *shedding.Shedder {
	s, err := shedding.New(shedding.WithShedWindow(window), shedding.WithBuckets(buckets),
		shedding.WithLoadSource(shedding.LoadFunc(func() int64 { return load })))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

var shedImpls = []shedImpl{
	{
		name: "levee",
		pass: func(b *testing.B) func() {
			s := leveeShedder(b, 0)
			return func() {
				t, err := s.Allow(shedding.Default)
				if err != nil {
					b.Fatal("levee: shed while calm")
				}
				t.Pass()
			}
		},
		drop: func(b *testing.B) (func(), func()) {
			s := leveeShedder(b, 1000)
			var toks []shedding.Token
			for range held {
				if t, err := s.Allow(shedding.Default); err == nil {
					toks = append(toks, t)
				}
			}
			if _, err := s.Allow(shedding.Default); err == nil {
				b.Fatal("levee: admitted while overloaded")
			}
			return func() {
					if _, err := s.Allow(shedding.Default); err == nil {
						b.Fatal("levee: admitted while overloaded")
					}
				}, func() {
					for _, t := range toks {
						t.Pass()
					}
				}
		},
	},
	{
		name: "gozero",
		pass: func(b *testing.B) func() {
			s := load.NewAdaptiveShedder(load.WithWindow(window), load.WithBuckets(buckets), load.WithCpuThreshold(1001))
			return func() {
				p, err := s.Allow()
				if err != nil {
					b.Fatal("gozero: shed while calm")
				}
				p.Pass()
			}
		},
		drop: func(b *testing.B) (func(), func()) {
			logx.Disable()
			s := load.NewAdaptiveShedder(load.WithWindow(window), load.WithBuckets(buckets), load.WithCpuThreshold(0))
			var ps []load.Promise
			for range held {
				if p, err := s.Allow(); err == nil {
					ps = append(ps, p)
				}
			}
			// Its average in flight moves only when a request finishes.
			for range 100 {
				if p, err := s.Allow(); err == nil {
					p.Fail()
				}
			}
			if _, err := s.Allow(); err == nil {
				b.Fatal("gozero: admitted while overloaded")
			}
			return func() {
					if _, err := s.Allow(); err == nil {
						b.Fatal("gozero: admitted while overloaded")
					}
				}, func() {
					for _, p := range ps {
						p.Pass()
					}
				}
		},
	},
	{
		name: "aegis",
		pass: func(b *testing.B) func() {
			l := bbr.NewLimiter(bbr.WithWindow(window), bbr.WithBucket(buckets), bbr.WithCPUThreshold(1001))
			return func() {
				done, err := l.Allow()
				if err != nil {
					b.Fatal("aegis: shed while calm")
				}
				done(ratelimit.DoneInfo{})
			}
		},
		drop: func(b *testing.B) (func(), func()) {
			l := bbr.NewLimiter(bbr.WithWindow(window), bbr.WithBucket(buckets), bbr.WithCPUThreshold(0))
			var dones []ratelimit.DoneFunc
			for range held {
				if d, err := l.Allow(); err == nil {
					dones = append(dones, d)
				}
			}
			if _, err := l.Allow(); err == nil {
				b.Fatal("aegis: admitted while overloaded")
			}
			return func() {
					if _, err := l.Allow(); err == nil {
						b.Fatal("aegis: admitted while overloaded")
					}
				}, func() {
					for _, d := range dones {
						d(ratelimit.DoneInfo{})
					}
				}
		},
	},
	{
		name: "failsafe",
		pass: func(b *testing.B) func() {
			l := adaptivelimiter.NewBuilder[any]().Build()
			return func() {
				p, ok := l.TryAcquirePermit()
				if !ok {
					b.Fatal("failsafe: rejected while calm")
				}
				p.Record()
			}
		},
		drop: func(b *testing.B) (func(), func()) {
			l := adaptivelimiter.NewBuilder[any]().WithLimits(1, 1, 1).Build()
			p, ok := l.TryAcquirePermit()
			if !ok {
				b.Fatal("failsafe: first permit rejected")
			}
			return func() {
				if _, ok := l.TryAcquirePermit(); ok {
					b.Fatal("failsafe: admitted above its limit")
				}
			}, p.Record
		},
	},
}

func run(b *testing.B, parallel bool, op func()) {
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for range b.N {
			op()
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op()
		}
	})
}

// BenchmarkShedPass: Allow, then report a success, on a calm process.
func BenchmarkShedPass(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			for _, impl := range shedImpls {
				b.Run(impl.name, func(b *testing.B) {
					run(b, mode == "parallel", impl.pass(b))
				})
			}
		})
	}
}

// BenchmarkShedDrop: Allow on an overloaded process, every request shed.
func BenchmarkShedDrop(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			for _, impl := range shedImpls {
				b.Run(impl.name, func(b *testing.B) {
					op, release := impl.drop(b)
					defer release()
					run(b, mode == "parallel", op)
				})
			}
		})
	}
}
