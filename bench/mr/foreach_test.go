package mr

import (
	"context"
	"sync/atomic"
	"testing"

	levee "github.com/levee-go/levee/mr"
	gozero "github.com/zeromicro/go-zero/core/mr"
	"golang.org/x/sync/errgroup"
)

// BenchmarkForEach adds up 0..9,999 into an atomic counter with 16 workers.
func BenchmarkForEach(b *testing.B) {
	const wantTotal = int64(items-1) * items / 2
	checkTotal := func(b *testing.B, total *atomic.Int64) {
		if got := total.Load(); got != wantTotal {
			b.Fatalf("total = %d, want %d", got, wantTotal)
		}
	}
	b.Run("levee", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for i := 0; i < b.N; i++ {
			var total atomic.Int64
			err := levee.ForEach(ctx, generateItems, func(ctx context.Context, v int64) error {
				total.Add(v)
				return nil
			}, levee.WithWorkers(workers))
			if err != nil {
				b.Fatal(err)
			}
			checkTotal(b, &total)
		}
		reportPerItem(b)
	})
	b.Run("gozero", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var total atomic.Int64
			gozero.ForEach(gozeroItems, func(v int64) { total.Add(v) }, gozero.WithWorkers(workers))
			checkTotal(b, &total)
		}
		reportPerItem(b)
	})
	b.Run("errgroup", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var g errgroup.Group
			g.SetLimit(workers)
			var total atomic.Int64
			for j := int64(0); j < items; j++ {
				g.Go(func() error {
					total.Add(j)
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			checkTotal(b, &total)
		}
		reportPerItem(b)
	})
}

// BenchmarkFinish runs three trivial functions concurrently: the fixed cost
// of a fan-out of independent calls.
func BenchmarkFinish(b *testing.B) {
	var sink atomic.Int64
	b.Run("levee", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		fn := func(context.Context) error { sink.Add(1); return nil }
		for i := 0; i < b.N; i++ {
			if err := levee.Finish(ctx, fn, fn, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gozero", func(b *testing.B) {
		b.ReportAllocs()
		fn := func() error { sink.Add(1); return nil }
		for i := 0; i < b.N; i++ {
			if err := gozero.Finish(fn, fn, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("errgroup", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		fn := func(context.Context) error { sink.Add(1); return nil }
		for i := 0; i < b.N; i++ {
			g, gctx := errgroup.WithContext(ctx)
			for j := 0; j < 3; j++ {
				g.Go(func() error { return fn(gctx) })
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
