package breaker_test

import (
	"testing"
	"time"

	"github.com/levee-go/levee/breaker"
)

// FuzzBreaker drives a breaker through an arbitrary sequence of calls,
// outcomes and clock jumps and checks what must always hold.
func FuzzBreaker(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 40, 0, 3})
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 255, 0, 0, 0, 2, 3, 3})
	f.Add([]byte{2, 200, 1, 2, 10, 1, 2, 250, 0, 0, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		clk := newFakeClock()
		b, err := breaker.New(breaker.WithClock(clk), breaker.WithRand(rngFloat(1)),
			breaker.WithWindow(time.Second), breaker.WithBuckets(8))
		if err != nil {
			t.Fatal(err)
		}
		var made int64 // outcomes reported, an upper bound on Requests
		for i := 0; i < len(ops); i++ {
			switch ops[i] % 4 {
			case 0, 1:
				p, err := b.Allow()
				if err != nil {
					continue
				}
				made++
				if ops[i]%4 == 0 {
					p.Accept()
				} else {
					p.Reject()
				}
			case 2:
				if i+1 < len(ops) {
					i++
					clk.Advance(time.Duration(ops[i]) * 10 * time.Millisecond)
				}
			case 3:
				st := b.Stats()
				if st.Probability < 0 || st.Probability >= 1 {
					t.Fatalf("probability %v out of [0, 1)", st.Probability)
				}
				if st.Accepts < 0 || st.Accepts > st.Requests || st.Requests > made || st.Rejections < 0 {
					t.Fatalf("inconsistent stats %+v after %d outcomes", st, made)
				}
				if st.Calls != st.Requests+st.Rejections {
					t.Fatalf("calls %d != requests %d + rejections %d", st.Calls, st.Requests, st.Rejections)
				}
			}
		}
	})
}
