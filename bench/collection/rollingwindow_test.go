package collectionbench

import (
	"testing"
	"time"

	"github.com/levee-go/levee/collection"
	gzcollection "github.com/zeromicro/go-zero/core/collection"
)

// Both implementations get the same window: 40 buckets of 250ms (10s).
const (
	rwSize     = 40
	rwInterval = 250 * time.Millisecond
)

func newLeveeWindow(b *testing.B) *collection.RollingWindow {
	b.Helper()
	w, err := collection.NewRollingWindow(rwSize, rwInterval)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

func newGozeroWindow() *gzcollection.RollingWindow[float64, *gzcollection.Bucket[float64]] {
	return gzcollection.NewRollingWindow[float64, *gzcollection.Bucket[float64]](
		func() *gzcollection.Bucket[float64] { return new(gzcollection.Bucket[float64]) },
		rwSize, rwInterval)
}

func BenchmarkRollingWindowAdd(b *testing.B) {
	b.Run("serial/levee", func(b *testing.B) {
		w := newLeveeWindow(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w.Add(1)
		}
	})
	b.Run("serial/gozero", func(b *testing.B) {
		w := newGozeroWindow()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w.Add(1)
		}
	})
	b.Run("parallel/levee", func(b *testing.B) {
		w := newLeveeWindow(b)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w.Add(1)
			}
		})
	})
	b.Run("parallel/gozero", func(b *testing.B) {
		w := newGozeroWindow()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w.Add(1)
			}
		})
	})
}

// The window is filled first so every bucket holds data, as in a busy service.
func BenchmarkRollingWindowReduce(b *testing.B) {
	b.Run("levee", func(b *testing.B) {
		w := newLeveeWindow(b)
		for i := 0; i < 100; i++ {
			w.Add(float64(i))
		}
		var sum float64
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w.Reduce(func(bk collection.Bucket) { sum += bk.Sum })
		}
		_ = sum
	})
	b.Run("gozero", func(b *testing.B) {
		w := newGozeroWindow()
		for i := 0; i < 100; i++ {
			w.Add(float64(i))
		}
		var sum float64
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w.Reduce(func(bk *gzcollection.Bucket[float64]) { sum += bk.Sum })
		}
		_ = sum
	})
}
