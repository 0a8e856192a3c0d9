package mr

import (
	"context"
	"sync/atomic"
	"testing"

	levee "github.com/levee-go/levee/mr"
	gozero "github.com/zeromicro/go-zero/core/mr"
	"golang.org/x/sync/errgroup"
)

const (
	items   = 10000
	workers = 16
	want    = int64(items-1) * items * (2*items - 1) / 6 // sum of i*i for i < items
)

func reportPerItem(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
}

func check(b *testing.B, got int64) {
	if got != want {
		b.Fatalf("sum = %d, want %d", got, want)
	}
}

// generateItems is levee's generator in every benchmark: the numbers 0 to
// items-1.
func generateItems(_ context.Context, s *levee.Sink[int64]) error {
	for i := int64(0); i < items; i++ {
		if err := s.Send(i); err != nil {
			return err
		}
	}
	return nil
}

// gozeroItems is the same generator for go-zero's mr.
func gozeroItems(source chan<- int64) {
	for i := int64(0); i < items; i++ {
		source <- i
	}
}

func BenchmarkMapReduce(b *testing.B) {
	b.Run("levee", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		mapper := func(ctx context.Context, i int64) (int64, bool, error) { return i * i, true, nil }
		reducer := func(ctx context.Context, p *levee.Pipe[int64]) (int64, error) {
			var sum int64
			for v, ok := p.Next(); ok; v, ok = p.Next() {
				sum += v
			}
			return sum, nil
		}
		for i := 0; i < b.N; i++ {
			sum, err := levee.MapReduce(ctx, generateItems, mapper, reducer, levee.WithWorkers(workers))
			if err != nil {
				b.Fatal(err)
			}
			check(b, sum)
		}
		reportPerItem(b)
	})
	b.Run("gozero", func(b *testing.B) {
		b.ReportAllocs()
		mapper := func(i int64, w gozero.Writer[int64], cancel func(error)) { w.Write(i * i) }
		reducer := func(pipe <-chan int64, w gozero.Writer[int64], cancel func(error)) {
			var sum int64
			for v := range pipe {
				sum += v
			}
			w.Write(sum)
		}
		for i := 0; i < b.N; i++ {
			sum, err := gozero.MapReduce(gozeroItems, mapper, reducer, gozero.WithWorkers(workers))
			if err != nil {
				b.Fatal(err)
			}
			check(b, sum)
		}
		reportPerItem(b)
	})
	b.Run("errgroup", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var g errgroup.Group
			g.SetLimit(workers)
			var sum atomic.Int64
			for j := int64(0); j < items; j++ {
				g.Go(func() error {
					sum.Add(j * j)
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			check(b, sum.Load())
		}
		reportPerItem(b)
	})
}
