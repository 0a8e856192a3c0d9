//go:build unix

package collection

import (
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cpuTime returns the CPU time the process has used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestTimingWheelClosedTickChannelStopsTicking: closing the tick channel
// stops the ticking; the idle wheel must not spin on the closed channel
// (it burned a full core until Stop), and it stays usable until Stop.
func TestTimingWheelClosedTickChannelStopsTicking(t *testing.T) {
	clock := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ticks := make(chan time.Time)
	var fired atomic.Int64
	tw, err := NewTimingWheel(testInterval, 8, func(string, int) { fired.Add(1) },
		WithClock(clock), WithTickChannel(ticks))
	require.NoError(t, err)
	defer tw.Stop()
	require.NoError(t, tw.SetTimer("a", 1, testInterval))
	clock.set(clock.Now().Add(testInterval))
	ticks <- clock.Now()
	require.Eventually(t, func() bool { return fired.Load() == 1 }, 5*time.Second, time.Millisecond)

	require.NoError(t, tw.SetTimer("b", 2, testInterval))
	close(ticks)
	before := cpuTime(t)
	time.Sleep(300 * time.Millisecond)
	used := cpuTime(t) - before
	assert.Less(t, used, 20*time.Millisecond, "CPU used in 300 ms by an idle wheel whose tick channel is closed")
	t.Logf("CPU used in 300 ms after close: %v", used)

	// Still usable; nothing fires any more.
	require.NoError(t, tw.MoveTimer("b", 0))
	require.NoError(t, tw.SetTimer("c", 3, 0))
	assert.Equal(t, 2, tw.Len())
	assert.Equal(t, int64(1), fired.Load())
}
