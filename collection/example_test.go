package collection_test

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/levee-go/levee/collection"
)

// A window of 4 buckets of one second: values older than 4s drop out.
func ExampleRollingWindow() {
	clock := newFakeClock() // any type with Now() time.Time
	w, err := collection.NewRollingWindow(4, time.Second, collection.WithClock(clock))
	if err != nil {
		panic(err)
	}
	w.Add(10)
	w.Add(20)
	clock.Advance(time.Second)
	w.Add(5)

	sum, count := w.Sum()
	fmt.Printf("sum=%v count=%d mean=%v\n", sum, count, sum/float64(count))

	clock.Advance(3 * time.Second) // the first bucket expires
	sum, count = w.Sum()
	fmt.Printf("sum=%v count=%d\n", sum, count)
	// Output:
	// sum=35 count=3 mean=11.666666666666666
	// sum=5 count=1
}

// Reduce visits every bucket, oldest first; here the current, still filling
// bucket is left out.
func ExampleRollingWindow_Reduce() {
	clock := newFakeClock()
	w, err := collection.NewRollingWindow(3, time.Second,
		collection.WithClock(clock), collection.WithIgnoreCurrentBucket(true))
	if err != nil {
		panic(err)
	}
	for i := 1; i <= 3; i++ {
		w.Add(float64(i))
		w.Add(float64(i))
		clock.Advance(time.Second)
	}
	w.Add(100) // current bucket: not read

	w.Reduce(func(b collection.Bucket) {
		fmt.Printf("sum=%v count=%d\n", b.Sum, b.Count)
	})
	// Output:
	// sum=4 count=2
	// sum=6 count=2
}

// AddAt and SumAt take the time as an argument, for a caller that has read
// it already, instead of reading the window's clock.
func ExampleRollingWindow_AddAt() {
	clock := newFakeClock()
	start := clock.Now()
	w, err := collection.NewRollingWindow(2, time.Minute, collection.WithClock(clock))
	if err != nil {
		panic(err)
	}
	w.AddAt(start, 1)
	clock.Advance(90 * time.Second)
	w.AddAt(start.Add(90*time.Second), 2)
	sum, _ := w.SumAt(start.Add(90 * time.Second))
	fmt.Println(sum)

	clock.Advance(time.Minute)
	w.AddAt(start.Add(150*time.Second), 4) // the first minute drops out
	sum, _ = w.SumAt(start.Add(150 * time.Second))
	fmt.Println(sum)

	// More than a bucket ahead of the window's clock: dropped, so that it
	// does not take the slot of current data.
	w.AddAt(start.Add(time.Hour), 8)
	sum, _ = w.Sum()
	fmt.Println(sum)
	// Output:
	// 3
	// 6
	// 6
}

// A wheel that expires idle sessions. The test drives its ticks by hand.
func ExampleTimingWheel() {
	clock := newFakeClock()
	ticks := make(chan time.Time)
	var mu sync.Mutex
	var expired []string
	tw, err := collection.NewTimingWheel(time.Second, 60,
		func(session string, user int) {
			mu.Lock()
			defer mu.Unlock()
			expired = append(expired, fmt.Sprintf("%s(user %d)", session, user))
		},
		collection.WithClock(clock), collection.WithTickChannel(ticks))
	if err != nil {
		panic(err)
	}

	_ = tw.SetTimer("s1", 7, 2*time.Second)
	_ = tw.SetTimer("s2", 8, 2*time.Second)
	_ = tw.SetTimer("s3", 9, 2*time.Second)
	_ = tw.MoveTimer("s2", 10*time.Second) // s2 was active again
	_ = tw.RemoveTimer("s3")               // s3 logged out

	for i := 0; i < 3; i++ {
		clock.Advance(time.Second)
		ticks <- clock.Now()
	}
	tw.Stop() // waits for the callbacks

	sort.Strings(expired)
	fmt.Println(expired)
	fmt.Println(tw.SetTimer("s4", 1, time.Second))
	// Output:
	// [s1(user 7)]
	// collection: timing wheel is stopped
}
