//go:build go1.23

package mr

import "iter"

// All returns an iterator over the remaining results, for use with range:
//
//	for v := range results.All() {
//		sum += v
//	}
//
// It follows the rules of [Pipe.Next] and requires Go 1.23.
func (p *Pipe[U]) All() iter.Seq[U] {
	return func(yield func(U) bool) {
		for v, ok := p.Next(); ok; v, ok = p.Next() {
			if !yield(v) {
				return
			}
		}
	}
}
