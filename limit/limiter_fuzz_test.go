package limit

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzLimiters drives each limiter with arbitrary arrivals (time steps and
// costs taken from the input) and checks what must hold whatever the
// sequence: Remaining never negative nor above the quota; a rejection's
// RetryAfter positive; an allowed call's RetryAfter zero; and, for the
// token bucket, never more than burst + rate·t admitted over any span t;
// for the sliding window, never more than the quota in any window-long span.
func FuzzLimiters(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 10, 3, 200, 2, 255, 9})
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		const quota = 5
		tb, err := NewTokenBucket(10, quota, WithClock(newFakeClock())) // a token per 100ms
		if err != nil {
			t.Fatal(err)
		}
		sw, err := NewSlidingWindow(quota, time.Second, WithPrecision(4), WithClock(newFakeClock()))
		if err != nil {
			t.Fatal(err)
		}
		fw, err := NewFixedWindow(quota, time.Second, WithClock(newFakeClock()))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 400 { // 200 arrivals: the span checks below are quadratic
			data = data[:400]
		}
		var at time.Duration
		var tbTimes, swTimes []time.Duration
		for len(data) >= 2 {
			step := binary.LittleEndian.Uint16(data) // up to 65ms, in µs
			data = data[2:]
			at += time.Duration(step) * time.Microsecond * 4
			n := int(step % (quota + 1))
			for name, l := range map[string]Limiter{"token": tb, "sliding": sw, "fixed": fw} {
				r, err := l.AllowN(epoch.Add(at), n)
				if err != nil {
					t.Fatalf("%s: AllowN(%v, %d): %v", name, at, n, err)
				}
				if r.Remaining < 0 || r.Remaining > quota {
					t.Fatalf("%s: remaining %d", name, r.Remaining)
				}
				if r.Allowed != (r.RetryAfter == 0) {
					t.Fatalf("%s: allowed %v with retry after %v", name, r.Allowed, r.RetryAfter)
				}
				if r.ResetAfter < 0 || r.RetryAfter < 0 {
					t.Fatalf("%s: negative durations %+v", name, r)
				}
				if !r.Allowed {
					continue
				}
				for range n {
					switch name {
					case "token":
						tbTimes = append(tbTimes, at)
					case "sliding":
						swTimes = append(swTimes, at)
					}
				}
			}
		}
		if got := maxInSpan(swTimes, time.Second); got > quota {
			t.Fatalf("sliding window admitted %d in one window", got)
		}
		// Token bucket: over any span [a, b], at most burst + (b-a)/100ms.
		for i := range tbTimes {
			for j := i; j < len(tbTimes); j++ {
				allowed := quota + int((tbTimes[j]-tbTimes[i])/(100*time.Millisecond))
				if j-i+1 > allowed {
					t.Fatalf("token bucket admitted %d in %v", j-i+1, tbTimes[j]-tbTimes[i])
				}
			}
		}
	})
}
