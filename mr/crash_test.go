package mr_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/levee-go/levee/mr"
)

// An unrecovered panic in a mapper crashes the program from the caller's
// goroutine, and the crash report shows the original value and the stack
// of the mapper that panicked.
func TestUnrecoveredPanicCrashReport(t *testing.T) {
	if os.Getenv("MR_CRASH_CHILD") == "1" {
		_ = mr.ForEach(context.Background(),
			func(ctx context.Context, items *mr.Sink[int]) error { return items.Send(1) },
			func(ctx context.Context, i int) error { crashingMapper(); return nil })
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnrecoveredPanicCrashReport$")
	cmd.Env = append(os.Environ(), "MR_CRASH_CHILD=1")
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "the child must crash; output:\n%s", out)
	assert.Equal(t, 2, exitErr.ExitCode())
	assert.Contains(t, string(out), "panic: mr: panic: disk on fire")
	assert.Contains(t, string(out), "crashingMapper", "the mapper's own stack is in the report")
	assert.Contains(t, string(out), "TestUnrecoveredPanicCrashReport", "so is the caller's")
}

//go:noinline
func crashingMapper() { panic("disk on fire") }

// A mapper that panics after the outcome is decided (the reducer has
// returned, and MapReduce with it) has no caller to re-raise the panic in:
// it must end the program rather than vanish.
func TestLatePanicIsNotDropped(t *testing.T) {
	if os.Getenv("MR_CRASH_CHILD") == "late" {
		started, returned := make(chan struct{}), make(chan struct{})
		got, err := mr.MapReduce(context.Background(), upTo(1),
			func(ctx context.Context, i int) (int, bool, error) {
				close(started)
				<-returned
				latePanic()
				return i, true, nil
			},
			func(context.Context, *mr.Pipe[int]) (int, error) { <-started; return 7, nil })
		fmt.Println("MapReduce returned", got, err)
		close(returned)
		time.Sleep(5 * time.Second)
		fmt.Println("the late panic was dropped")
		return
	}
	out, code := runChild(t, "TestLatePanicIsNotDropped", "late")
	assert.Equal(t, 2, code, "exit code; output:\n%s", out)
	assert.Contains(t, out, "MapReduce returned 7 <nil>")
	assert.Contains(t, out, "panic: mr: panic: late boom")
	assert.Contains(t, out, "latePanic", "the mapper's stack is in the report")
	assert.NotContains(t, out, "dropped")
}

//go:noinline
func latePanic() { panic("late boom") }

// A panic while the caller's context is done is not turned into
// ctx.Err(): it is re-raised in the caller if it decides the outcome, and
// ends the program if the cancellation decided it first.
func TestPanicAfterCancelIsNotDropped(t *testing.T) {
	if os.Getenv("MR_CRASH_CHILD") == "cancel" {
		ctx, cancel := context.WithCancel(context.Background())
		r := catch(func() {
			_, err := mr.MapReduce(ctx, upTo(1),
				func(ctx context.Context, i int) (int, bool, error) {
					cancel()
					panic("boom after cancel")
				}, sum)
			fmt.Println("MapReduce returned", err)
		})
		if pe, ok := r.(*mr.PanicError); ok {
			fmt.Println("re-raised in the caller:", pe.Value)
			return
		}
		time.Sleep(5 * time.Second)
		fmt.Println("the panic was dropped")
		return
	}
	for range 5 {
		out, _ := runChild(t, "TestPanicAfterCancelIsNotDropped", "cancel")
		assert.Contains(t, out, "boom after cancel", "output:\n%s", out)
		assert.NotContains(t, out, "dropped")
	}
}

// runChild runs the test named test in a child process with
// MR_CRASH_CHILD=mode and returns its output and exit code.
func runChild(t *testing.T, test, mode string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), "MR_CRASH_CHILD="+mode)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return string(out), exitErr.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}
