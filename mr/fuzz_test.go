package mr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/levee-go/levee/mr"
)

// fault describes one injected failure, decoded from fuzz input.
type fault struct {
	workers int
	n       int    // items generated: 0..n-1
	site    string // "", "generator", "mapper", "reducer", "cancel"
	panics  bool   // panic instead of returning an error
	k       int    // where: before sending item k / on item k / after k results
	late    string // "", "error", "none": how functions react to the cancellation
}

var sites = []string{"", "generator", "mapper", "reducer", "cancel"}

// A late panic is not among the reactions: it ends the program (see the
// crash tests), since a panic is never dropped. "none" keeps the seeds'
// decoding stable.
var lates = []string{"", "error", "none"}

func decodeFault(data []byte) fault {
	at := func(i int) int {
		if i < len(data) {
			return int(data[i])
		}
		return 0
	}
	f := fault{
		workers: 1 + at(0)%8,
		n:       (at(1) | at(2)<<8) % 600,
		site:    sites[at(3)%len(sites)],
		panics:  at(4)%2 == 1,
		late:    lates[at(7)%len(lates)],
	}
	f.k = (at(5) | at(6)<<8) % (f.n + 1)
	return f
}

// injected is the panic value of an injected panic.
type injected struct{ site string }

// FuzzMapReduce injects an error, a panic or a cancellation at a point
// decoded from the input, makes the other functions fail in turn once
// they see the call cancelled, and checks the outcome exactly: the sum when
// nothing was injected, else the injected error, panic value or
// context.Canceled, never a later failure, and no goroutine left behind.
func FuzzMapReduce(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{15, 100, 0, 0},
		{3, 200, 1, 1, 0, 50, 0, 1}, // generator error at 50, late errors
		{3, 200, 1, 1, 1, 0, 0, 2},  // generator panic before the first item
		{7, 88, 2, 2, 0, 87, 0, 1},  // mapper error on the last item
		{0, 88, 2, 2, 1, 5, 0, 2},   // mapper panic, one worker
		{4, 255, 1, 3, 0, 255, 1, 1},
		{4, 10, 0, 3, 1, 0, 0, 2},
		{5, 40, 1, 4, 0, 20, 0, 1}, // caller cancels at item 20, late errors
		{5, 40, 1, 4, 0, 20, 0, 2},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		ft := decodeFault(data)
		injectedErr := fmt.Errorf("injected %s error at %d", ft.site, ft.k)
		lateErr := errors.New("late error")
		fail := func(site string) error {
			if ft.panics {
				panic(&injected{site})
			}
			return injectedErr
		}
		late := func() error {
			switch ft.late {
			case "error":
				return lateErr
			}
			return nil
		}

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var got int
		var err error
		recovered := catch(func() {
			got, err = mr.MapReduce(ctx,
				func(ctx context.Context, s *mr.Sink[int]) error {
					for i := 0; i <= ft.n; i++ {
						if ft.site == "generator" && i == ft.k {
							return fail("generator")
						}
						if i == ft.n {
							break
						}
						if err := s.Send(i); err != nil {
							if lerr := late(); lerr != nil {
								return lerr
							}
							return err
						}
					}
					return nil
				},
				func(ctx context.Context, i int) (int, bool, error) {
					if ctx.Err() != nil {
						if lerr := late(); lerr != nil {
							return 0, false, lerr
						}
					}
					switch {
					case ft.site == "mapper" && i == ft.k:
						return 0, false, fail("mapper")
					case ft.site == "cancel" && i == ft.k:
						cancel()
					}
					return i * i, true, nil
				},
				func(ctx context.Context, p *mr.Pipe[int]) (int, error) {
					total, count := 0, 0
					for {
						if ft.site == "reducer" && count == ft.k {
							return 0, fail("reducer")
						}
						v, ok := p.Next()
						if !ok {
							break
						}
						total += v
						count++
					}
					if ctx.Err() != nil {
						if lerr := late(); lerr != nil {
							return 0, lerr
						}
					}
					return total, nil
				}, mr.WithWorkers(ft.workers))
		})

		triggered := ft.site == "generator" || ft.site == "reducer" ||
			(ft.site == "mapper" || ft.site == "cancel") && ft.k < ft.n
		switch {
		case !triggered:
			if recovered != nil || err != nil || got != sumOfSquares(ft.n) {
				t.Fatalf("%+v: got (%d, %v) panic %v, want (%d, nil)", ft, got, err, recovered, sumOfSquares(ft.n))
			}
		case ft.site == "cancel":
			if recovered != nil || err != context.Canceled || got != 0 {
				t.Fatalf("%+v: got (%d, %v) panic %v, want (0, context.Canceled)", ft, got, err, recovered)
			}
		case ft.panics:
			pe, ok := recovered.(*mr.PanicError)
			if !ok {
				t.Fatalf("%+v: got (%d, %v) panic %#v, want a *mr.PanicError", ft, got, err, recovered)
			}
			if v, ok := pe.Value.(*injected); !ok || v.site != ft.site {
				t.Fatalf("%+v: panic value %#v, want the injected one", ft, pe.Value)
			}
		default:
			if recovered != nil || err != injectedErr || got != 0 {
				t.Fatalf("%+v: got (%d, %v) panic %v, want (0, %v)", ft, got, err, recovered, injectedErr)
			}
		}
	})
}
