package collectionbench

import (
	"testing"
	"time"

	"github.com/levee-go/levee/collection"
	gzcollection "github.com/zeromicro/go-zero/core/collection"
)

// Both wheels tick every second over 128 slots; timers are set 30 to 60
// seconds out on a fixed set of 1024 keys, so nothing fires during the run
// and, after the first round, every call replaces a pending timer.
const (
	twInterval = time.Second
	twSlots    = 128
	twKeys     = 1024
)

func newLeveeWheel(b *testing.B) *collection.TimingWheel[int, int] {
	b.Helper()
	tw, err := collection.NewTimingWheel(twInterval, twSlots, func(int, int) {})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tw.Stop)
	return tw
}

func newGozeroWheel(b *testing.B) *gzcollection.TimingWheel {
	b.Helper()
	tw, err := gzcollection.NewTimingWheel(twInterval, twSlots, func(any, any) {})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tw.Stop)
	return tw
}

func delayOf(i int) time.Duration {
	return 30*time.Second + time.Duration(i%30)*time.Second
}

func BenchmarkTimingWheelSetTimer(b *testing.B) {
	b.Run("levee", func(b *testing.B) {
		tw := newLeveeWheel(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := tw.SetTimer(i%twKeys, i, delayOf(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gozero", func(b *testing.B) {
		tw := newGozeroWheel(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := tw.SetTimer(i%twKeys, i, delayOf(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkTimingWheelMoveTimer(b *testing.B) {
	b.Run("levee", func(b *testing.B) {
		tw := newLeveeWheel(b)
		for k := 0; k < twKeys; k++ {
			if err := tw.SetTimer(k, k, delayOf(k)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := tw.MoveTimer(i%twKeys, delayOf(i+7)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gozero", func(b *testing.B) {
		tw := newGozeroWheel(b)
		for k := 0; k < twKeys; k++ {
			if err := tw.SetTimer(k, k, delayOf(k)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := tw.MoveTimer(i%twKeys, delayOf(i+7)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
