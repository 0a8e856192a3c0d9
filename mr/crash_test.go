package mr_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

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
