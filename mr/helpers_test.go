package mr_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/levee-go/levee/mr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upTo returns a generator that sends 0, 1, ..., n-1.
func upTo(n int) func(context.Context, *mr.Sink[int]) error {
	return func(_ context.Context, s *mr.Sink[int]) error {
		for i := 0; i < n; i++ {
			if err := s.Send(i); err != nil {
				return err
			}
		}
		return nil
	}
}

func square(_ context.Context, i int) (int, bool, error) { return i * i, true, nil }

func sum(_ context.Context, p *mr.Pipe[int]) (int, error) {
	total := 0
	for v, ok := p.Next(); ok; v, ok = p.Next() {
		total += v
	}
	return total, nil
}

// sumOfSquares returns 0² + 1² + ... + (n-1)².
func sumOfSquares(n int) int {
	if n <= 0 {
		return 0
	}
	return (n - 1) * n * (2*n - 1) / 6
}

// catch runs f and returns the value it panicked with, or nil.
func catch(f func()) (recovered any) {
	defer func() { recovered = recover() }()
	f()
	return nil
}
