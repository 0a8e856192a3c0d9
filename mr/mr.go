package mr

import (
	"context"
)

// MapReduce sends the items generate produces to mapper, which runs in up
// to [WithWorkers] goroutines (default [DefaultWorkers]), and gives the
// mapped results, in no particular order, to reducer, whose return value
// is the result of the call.
//
// generate sends items with [Sink.Send] and returns when it has sent them
// all. mapper returns the result for one item and whether to keep it;
// returning false drops the item (a filter), so a mapper that keeps
// nothing simply leaves the reducer an empty [Pipe]. reducer reads the
// results with [Pipe.Next] and returns the outcome; it may return before
// the pipe is exhausted, which cancels the remaining work and makes its
// value the result.
//
// All three functions receive a context derived from ctx that is cancelled
// when the call ends. The first error or panic from any of them ends the
// call: the error is returned (later ones are dropped) and a panic is
// re-raised in the caller's goroutine as a [*PanicError]. When ctx is done
// first, MapReduce returns ctx.Err() at once. A panic is never dropped: one
// that comes after the outcome is decided is re-raised where it happened
// (see "Panics" in the package documentation).
//
// MapReduce returns as soon as its outcome is decided. It does not wait for
// user functions that are still running at that point (a generator that
// never ends, a mapper stuck in a call that ignores its context): they see
// their context cancelled, Send and Next stop blocking, and every goroutine
// MapReduce started exits once the user functions running on it return.
//
// An invalid [Option] makes MapReduce return an error without calling any
// of the functions. MapReduce panics if a function argument is nil.
func MapReduce[T, U, V any](ctx context.Context,
	generate func(ctx context.Context, items *Sink[T]) error,
	mapper func(ctx context.Context, item T) (result U, keep bool, err error),
	reducer func(ctx context.Context, results *Pipe[U]) (V, error),
	opts ...Option,
) (V, error) {
	var zero V
	if generate == nil || mapper == nil || reducer == nil {
		panic("mr: nil generate, mapper or reducer")
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return zero, err
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	r := newRun[T, U, V](ctx, cfg, mapper)
	// Sized by the workers, up to a bound: a huge worker count must not
	// allocate up front in proportion to it.
	queued := min(cfg.workers, maxQueuedResults)
	r.out = make(chan []U, queued)
	// Buffers to recycle: one per worker, cap(out) queued, one in the
	// pipe, as far as the bound goes (beyond it, buffers are allocated).
	r.free = make(chan []U, 2*queued+1)
	r.sink.allDone = func() { close(r.out) }
	pipe := &Pipe[U]{in: r.out, free: r.free, stop: r.o.stop}
	go r.generate(generate)
	go r.reduce(reducer, pipe)
	return r.o.wait(ctx)
}

// MapReduceVoid is [MapReduce] with a reducer that produces no value.
func MapReduceVoid[T, U any](ctx context.Context,
	generate func(ctx context.Context, items *Sink[T]) error,
	mapper func(ctx context.Context, item T) (result U, keep bool, err error),
	reducer func(ctx context.Context, results *Pipe[U]) error,
	opts ...Option,
) error {
	if reducer == nil {
		panic("mr: nil generate, mapper or reducer")
	}
	_, err := MapReduce(ctx, generate, mapper, func(ctx context.Context, results *Pipe[U]) (struct{}, error) {
		return struct{}{}, reducer(ctx, results)
	}, opts...)
	return err
}

// ForEach calls fn, in up to [WithWorkers] goroutines, for every item
// generate produces, and returns once all calls have returned. Errors,
// panics, cancellation and the return without waiting for a stuck function
// behave as in [MapReduce].
func ForEach[T any](ctx context.Context,
	generate func(ctx context.Context, items *Sink[T]) error,
	fn func(ctx context.Context, item T) error,
	opts ...Option,
) error {
	if generate == nil || fn == nil {
		panic("mr: nil generate or fn")
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := newRun[T, struct{}, struct{}](ctx, cfg, func(ctx context.Context, item T) (struct{}, bool, error) {
		return struct{}{}, false, fn(ctx, item)
	})
	r.sink.allDone = func() { r.o.settle(struct{}{}, nil, nil) }
	go r.generate(generate)
	_, err = r.o.wait(ctx)
	return err
}

// maxQueuedResults bounds the result chunks waiting for the reducer.
const maxQueuedResults = 64

// run is the state of one MapReduce or ForEach call.
type run[T, U, V any] struct {
	o      *outcome[V]
	ctx    context.Context // given to user functions; cancelled at the end
	sink   Sink[T]
	mapper func(context.Context, T) (U, bool, error)
	out    chan []U // results to the reducer; nil when there is none
	free   chan []U // result buffers returned by the pipe for reuse
}

func newRun[T, U, V any](parent context.Context, cfg config, mapper func(context.Context, T) (U, bool, error)) *run[T, U, V] {
	o, ctx := newOutcome[V](parent)
	r := &run[T, U, V]{o: o, ctx: ctx, mapper: mapper}
	r.sink.init(ctx, cfg.workers, o.stop, &o.stopped)
	r.sink.spawn = func() { go r.work() }
	return r
}

func (r *run[T, U, V]) generate(generate func(context.Context, *Sink[T]) error) {
	normal := false
	defer func() {
		var lost *PanicError
		if !normal {
			lost = r.o.recovered(recover())
		}
		// After settling a failure, so that closing cannot be mistaken for
		// a complete run.
		r.sink.close()
		if lost != nil {
			panic(lost)
		}
	}()
	err := generate(r.ctx, &r.sink)
	normal = true
	if err != nil {
		r.o.fail(err)
	}
}

func (r *run[T, U, V]) reduce(reducer func(context.Context, *Pipe[U]) (V, error), pipe *Pipe[U]) {
	normal := false
	defer func() {
		if !normal {
			if lost := r.o.recovered(recover()); lost != nil {
				panic(lost)
			}
		}
	}()
	v, err := reducer(r.ctx, pipe)
	normal = true
	if err != nil {
		r.o.fail(err)
		return
	}
	r.o.settle(v, nil, nil)
}

func (r *run[T, U, V]) work() {
	normal := false
	defer func() {
		var lost *PanicError
		if !normal {
			lost = r.o.recovered(recover())
		}
		r.sink.exit()
		if lost != nil {
			panic(lost)
		}
	}()
	r.mapLoop()
	normal = true
}

func (r *run[T, U, V]) mapLoop() {
	var in []T
	var out []U
	for {
		in = r.sink.take(in[:0])
		if len(in) == 0 {
			return
		}
		for i := range in {
			if r.o.stopped.Load() {
				return
			}
			u, keep, err := r.mapper(r.ctx, in[i])
			if err != nil {
				r.o.fail(err)
				return
			}
			if keep && r.out != nil {
				if out == nil {
					out = r.buffer()
				}
				out = append(out, u)
			}
		}
		clear(in)
		if len(out) > 0 {
			// One send per chunk, not per result.
			select {
			case r.out <- out:
				out = nil
			case <-r.o.stop:
				return
			}
		}
	}
}

// buffer returns an empty result buffer, reusing one the pipe has finished
// with when possible, so that steady state allocates nothing per item.
func (r *run[T, U, V]) buffer() []U {
	select {
	case b := <-r.free:
		return b
	default:
		return make([]U, 0, maxChunk)
	}
}
