// Package mr runs work concurrently and gathers the results: MapReduce
// (generate, map in parallel, reduce), ForEach and Finish, with generics,
// a context first, and no goroutine left behind.
//
// # Functions
//
//   - [MapReduce]: a generator sends items to a [Sink], mappers run in up to
//     [WithWorkers] goroutines (default [DefaultWorkers]) and return one
//     result per item, or none (a filter), and a reducer reads the results
//     from a [Pipe] and returns the value of the call.
//   - [MapReduceVoid]: the same with a reducer that returns only an error.
//   - [ForEach]: a generator and a function called for every item.
//   - [Finish] and [FinishVoid]: run a fixed set of functions concurrently.
//
// # Errors, panics and cancellation
//
// The first failure ends a call: the first error returned by any user
// function is the call's error and later ones are dropped; a panic is
// re-raised in the caller's goroutine as a [*PanicError] that carries the
// original value and the stack of the goroutine that panicked; a user
// function that calls runtime.Goexit fails the call with [ErrGoexit].
// Ending a call cancels the context given to the user functions, with the
// error or panic as its cause (see [context.Cause]).
//
// When the caller's context ends first, the call returns ctx.Err() at once.
// A call never waits for user functions that are still running once its
// outcome is decided, so a generator that never ends or a mapper blocked in
// a call that ignores its context cannot hang it. [Sink.Send] and
// [Pipe.Next] stop blocking when the call ends, and every goroutine the call
// started exits as soon as the user function running on it returns.
//
// # Panics
//
// A panic is never dropped. A panic that decides the outcome of a call
// (the first failure, even if the caller's context has ended meanwhile) is
// re-raised in the caller's goroutine as a [*PanicError]. A panic that
// comes after the outcome is decided (the reducer has returned, another
// function failed first, the caller's context ended first and the call
// returned ctx.Err()) has no caller left to be re-raised in: it is
// re-raised, as a [*PanicError], on the goroutine where it happened, and so
// ends the program like any unrecovered panic in a goroutine. This is the
// rule of syncx's SingleFlight for a call all its callers have left. A
// function that may still run once the call has ended must not panic
// because of that, for example on an error from [Sink.Send] or a cancelled
// context.
//
// A reducer returns its value; it cannot forget to produce one, so there is
// no "reducer wrote nothing" error. A mapper that keeps nothing leaves the
// reducer an empty pipe, and the reducer decides what that means.
//
// # Performance
//
// Items wait in a bounded queue that the mappers take from in chunks sized
// by how much is queued (guided self-scheduling), and results reach the
// reducer a chunk at a time through recycled buffers. The cost per item is
// a few tens of nanoseconds and no allocation, against a goroutine and two
// channel operations per item in go-zero's core/mr. Workers are started
// on demand, so a call with three items starts at most three of them; a
// burst of items after a lull starts more workers as soon as items queue
// up behind the parked ones, and with a slow mapper chunks shrink to
// single items, so work spreads over all workers whenever enough items
// are queued. Memory does not grow with the [WithWorkers] count: the queue
// and the result channels are bounded whatever it is.
//
// # Concurrency
//
// All functions in this package are safe to call from multiple goroutines
// at once; calls share nothing. A [Sink] may be used by several goroutines
// of its generator; a [Pipe] only by its reducer.
package mr
