package mr

import (
	"errors"
	"fmt"
)

// ErrGoexit is returned when a generator, mapper, reducer or function given
// to [Finish] calls [runtime.Goexit] (for example through testing.T.FailNow)
// instead of returning.
var ErrGoexit = errors.New("mr: user function called runtime.Goexit")

// errSinkClosed is returned by [Sink.Send] after the generator has returned.
var errSinkClosed = errors.New("mr: send after the generator returned")

// PanicError is the value re-raised, with panic, in the caller's goroutine
// when a generator, mapper, reducer or function given to [Finish] or
// [FinishVoid] panics. It carries the original panic value and the stack of
// the goroutine that panicked, captured where the panic was recovered.
//
// Recover it with:
//
//	defer func() {
//		if pe, ok := recover().(*mr.PanicError); ok {
//			log.Printf("mapper panicked: %v", pe.Value)
//		}
//	}()
type PanicError struct {
	// Value is the value the user function passed to panic.
	Value any
	// Stack is the stack trace of the panicking goroutine (debug.Stack).
	Stack []byte
}

// Error reports the panic value followed by the stack of the goroutine
// that panicked.
func (e *PanicError) Error() string {
	return fmt.Sprintf("mr: panic: %v\n\ngoroutine stack:\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value if it is an error, so that errors.Is and
// errors.As see through a *PanicError.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}
