package syncx_test

import (
	"runtime"
	"testing"
	"time"
)

// waitFor yields until cond holds, failing the test after a generous
// deadline. It waits for a state, never for a duration.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(50 * time.Microsecond)
	}
}

func runtimeYield() { runtime.Gosched() }
