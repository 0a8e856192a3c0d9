package collection_test

import (
	"testing"
	"time"

	"github.com/levee-go/levee/collection"
)

// rwModel is the reference for FuzzRollingWindow: every event kept, summed
// over the window by brute force.
type rwModel struct {
	size          int64
	interval      time.Duration
	origin        time.Time
	ignoreCurrent bool
	events        []rwEvent
}

type rwEvent struct {
	at time.Time
	v  float64
}

func (m *rwModel) intervalOf(at time.Time) int64 {
	d := at.Sub(m.origin)
	e := int64(d / m.interval)
	if d < 0 && d%m.interval != 0 {
		e--
	}
	return e
}

// buckets returns the window at now, oldest bucket first.
func (m *rwModel) buckets(now time.Time) []collection.Bucket {
	cur := m.intervalOf(now)
	first, last := cur-m.size+1, cur
	if m.ignoreCurrent {
		last--
	}
	bs := make([]collection.Bucket, last-first+1)
	for _, ev := range m.events {
		if e := m.intervalOf(ev.at); e >= first && e <= last {
			bs[e-first].Sum += ev.v
			bs[e-first].Count++
		}
	}
	return bs
}

// FuzzRollingWindow drives a RollingWindow with Adds (at the current time or
// in the past) and clock moves decoded from the fuzz input, and compares
// every read with the reference model. Values are small integers, so float
// sums are exact whatever the order.
func FuzzRollingWindow(f *testing.F) {
	f.Add([]byte{3, 0, 0, 5, 1, 4, 0, 7, 1, 4, 0, 9})
	f.Add([]byte{0, 0, 1, 0, 2, 1, 255, 0, 3})
	f.Add([]byte{0x85, 0, 1, 1, 3, 0, 2, 1, 3, 2, 10, 0, 4, 1, 40, 0, 6})
	f.Add([]byte{7, 0, 1, 1, 1, 0, 2, 1, 1, 0, 3, 1, 1, 0, 4, 1, 1, 0, 5, 1, 200, 0, 6})
	f.Add([]byte{2, 1, 255, 1, 255, 0, 1, 2, 9, 0, 2, 2, 0, 0, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		const interval = 100 * time.Millisecond
		size := int(data[0]&7) + 1
		ignore := data[0]&0x80 != 0
		clock := newFakeClock()
		w, err := collection.NewRollingWindow(size, interval, collection.WithClock(clock),
			collection.WithIgnoreCurrentBucket(ignore))
		if err != nil {
			t.Fatal(err)
		}
		m := &rwModel{size: int64(size), interval: interval, origin: clock.Now(), ignoreCurrent: ignore}

		ops := data[1:]
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%3, ops[i+1]
			switch op {
			case 0: // Add at the current time
				v := float64(int8(arg))
				w.Add(v)
				m.events = append(m.events, rwEvent{clock.Now(), v})
			case 1: // move the clock forward: quarter intervals, 255 = many windows
				d := time.Duration(arg) * interval / 4
				if arg == 255 {
					d = 1000 * interval
				}
				clock.Advance(d)
			case 2: // Add in the past, up to ~6 intervals back
				if arg&0x80 != 0 {
					// Two or more intervals ahead of the clock: dropped.
					w.AddAt(clock.Now().Add(time.Duration(2+arg%20)*interval), 1000)
					break
				}
				at := clock.Now().Add(-time.Duration(arg%25) * interval / 4)
				v := float64(arg%7) - 3
				w.AddAt(at, v)
				m.events = append(m.events, rwEvent{at, v})
			}

			want := m.buckets(clock.Now())
			var got []collection.Bucket
			w.Reduce(func(b collection.Bucket) { got = append(got, b) })
			if len(got) != len(want) {
				t.Fatalf("op %d: Reduce gave %d buckets, want %d", i/2, len(got), len(want))
			}
			var wantSum float64
			var wantCount int64
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("op %d: bucket %d = %+v, want %+v (all: %+v, want %+v)", i/2, j, got[j], want[j], got, want)
				}
				wantSum += want[j].Sum
				wantCount += want[j].Count
			}
			sum, count := w.Sum()
			if sum != wantSum || count != wantCount {
				t.Fatalf("op %d: Sum() = %v, %d, want %v, %d", i/2, sum, count, wantSum, wantCount)
			}
		}
	})
}
