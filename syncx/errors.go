package syncx

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
)

// ErrGoexit is returned to the callers that shared a call whose function
// ended with [runtime.Goexit] (for example through t.FailNow in a test)
// instead of returning. The goroutine that ran the function goes on exiting;
// everyone else gets this error rather than waiting forever or being made to
// exit too.
var ErrGoexit = errors.New("syncx: function called runtime.Goexit")

// ErrClosed is returned by [ResourceManager.Get] after [ResourceManager.Close].
var ErrClosed = errors.New("syncx: resource manager closed")

// PanicError carries a panic out of a function run on behalf of several
// callers, so each of them can re-raise it. It keeps the panic value and the
// stack of the goroutine that panicked, which would otherwise be lost when
// the panic is raised again elsewhere.
//
// A recovered PanicError unwraps to the original value when that value is an
// error, so errors.Is and errors.As see through it. The same PanicError is
// raised in every caller; it is never modified and may be shared between
// goroutines.
type PanicError struct {
	// Value is what the function passed to panic.
	Value any
	// Stack is the stack trace of the panicking goroutine, taken at the
	// moment of the panic.
	Stack []byte
}

// Error reports the panic value followed by the original stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("syncx: panic: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value if it is an error, nil otherwise.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// newPanicError must be called from the deferred function that recovered v,
// so that the stack it records still holds the panicking frames.
func newPanicError(v any) *PanicError {
	stack := debug.Stack()
	// The first line names the goroutine ("goroutine 7 [running]:"); the
	// error is re-raised on other goroutines, where that line would mislead.
	if i := bytes.IndexByte(stack, '\n'); i >= 0 {
		stack = stack[i+1:]
	}
	return &PanicError{Value: v, Stack: stack}
}
