package mr

// Pipe delivers the mappers' results to the reducer, in no particular
// order. It is not safe for concurrent use: only the reducer's goroutine
// may call Next, and only until the reducer returns.
//
// Results travel from each mapper to the reducer in chunks, so the
// reducer pays a channel receive per chunk rather than per result.
type Pipe[U any] struct {
	buf  []U
	i    int
	in   <-chan []U
	free chan<- []U
	stop <-chan struct{}
}

// Next returns the next result and true, or the zero value and false once
// every mapper has finished or the call has ended (a failure elsewhere, or
// the caller's context). When Next returns false because the call ended,
// whatever the reducer returns is discarded.
func (p *Pipe[U]) Next() (U, bool) {
	if p.i < len(p.buf) {
		v := p.buf[p.i]
		p.i++
		return v, true
	}
	return p.refill()
}

func (p *Pipe[U]) refill() (U, bool) {
	var zero U
	if p.buf != nil {
		clear(p.buf) // do not keep results reachable from the free list
		select {
		case p.free <- p.buf[:0]:
		default:
		}
		p.buf, p.i = nil, 0
	}
	select {
	case b, ok := <-p.in:
		if !ok {
			return zero, false
		}
		p.buf, p.i = b, 1
		return b[0], true
	case <-p.stop:
		return zero, false
	}
}
