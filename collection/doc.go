// Package collection holds the data structures the other levee modules build
// on: a lock-free time-bucketed [RollingWindow] and a [TimingWheel] of keyed,
// delayed tasks.
//
// # Rolling window
//
// A [RollingWindow] keeps the sum and the count of the values added during
// each of the last N intervals. Load shedders and adaptive breakers read it
// to learn the recent request rate, latency or error ratio:
//
//	w, err := collection.NewRollingWindow(40, 250*time.Millisecond) // the last 10s
//	w.Add(latency.Seconds())
//	sum, count := w.Sum()
//
// [RollingWindow.Add] takes no lock and allocates nothing; buckets that
// expired while nobody wrote are simply not read, however long the pause.
// [RollingWindow.Reduce] visits each bucket, oldest first, and
// [WithIgnoreCurrentBucket] leaves out the one still filling.
//
// # Timing wheel
//
// A [TimingWheel] runs a callback for a key after a delay, with the
// precision of one tick. Setting, moving and removing a timer take a short
// lock and no channel round trip; a tick dispatches each due task on its own
// goroutine, catches up ticks it missed, and [TimingWheel.Stop] waits for
// everything it started.
//
// # Limits
//
// A window holds at most [MaxRollingWindowSize] buckets and a wheel at
// most [MaxTimingWheelSlots] slots; the constructors refuse more with an
// error. [RollingWindow.AddAt] drops a value more than one interval ahead
// of the window's clock rather than let it take the slot of current data.
// A wheel whose tick channel ([WithTickChannel]) is closed stops ticking
// and sleeps until [TimingWheel.Stop].
//
// # Time
//
// Both read time from a [Clock] (the system clock unless [WithClock] says
// otherwise), once per call. [RollingWindow] also has AddAt, ReduceAt and
// SumAt taking the time as an argument, and [WithTickChannel] lets a test
// deliver a wheel's ticks itself, so behaviour over time is tested without
// sleeping.
package collection
