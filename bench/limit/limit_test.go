package limit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/throttled/throttled/v2"
	"github.com/throttled/throttled/v2/store/memstore"
	ulule "github.com/ulule/limiter/v3"
	ululemem "github.com/ulule/limiter/v3/drivers/store/memory"
	zerolimit "github.com/zeromicro/go-zero/core/limit"
	"github.com/zeromicro/go-zero/core/logx"
	zeroredis "github.com/zeromicro/go-zero/core/stores/redis"
	uber "go.uber.org/ratelimit"
	"golang.org/x/time/rate"

	"github.com/levee-go/levee/limit"
)

// run measures op serially or with b.RunParallel.
func run(b *testing.B, parallel bool, op func()) {
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for range b.N {
			op()
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op()
		}
	})
}

// expect fails the benchmark when a limiter does not decide as the row
// says (every call passes, or every call is rejected), checked on a few
// calls before timing.
func expect(b *testing.B, want bool, allow func() bool) {
	b.Helper()
	for i := range 10 {
		if got := allow(); got != want {
			b.Fatalf("call %d: allowed = %v, want %v", i, got, want)
		}
	}
}

// goZero returns go-zero's TokenLimiter after its Redis failed once, so it
// decides with its in-process rescue limiter (x/time/rate) from then on.
func goZero(b *testing.B, r, burst int) *zerolimit.TokenLimiter {
	b.Helper()
	logx.Disable()
	store := zeroredis.New("127.0.0.1:1") // nothing listens there
	l := zerolimit.NewTokenLimiter(r, burst, store, "bench")
	l.Allow() // fails over to the rescue limiter
	return l
}

// BenchmarkTokenBucketAllow: one non-blocking decision on a shared limiter.
func BenchmarkTokenBucketAllow(b *testing.B) {
	for _, mode := range []struct {
		name     string
		parallel bool
	}{{"serial", false}, {"parallel", true}} {
		b.Run(mode.name, func(b *testing.B) {
			b.Run("pass", func(b *testing.B) {
				// A token per nanosecond and a large burst: every call passes.
				b.Run("levee", func(b *testing.B) {
					l, err := limit.NewTokenBucket(1e9, 1<<30)
					if err != nil {
						b.Fatal(err)
					}
					expect(b, true, l.Allow)
					run(b, mode.parallel, func() { l.Allow() })
				})
				b.Run("xtime", func(b *testing.B) {
					l := rate.NewLimiter(1e9, 1<<30)
					expect(b, true, l.Allow)
					run(b, mode.parallel, func() { l.Allow() })
				})
				b.Run("failsafe", func(b *testing.B) {
					l := ratelimiter.NewBursty[any](1<<30, time.Nanosecond<<30)
					expect(b, true, l.TryAcquirePermit)
					run(b, mode.parallel, func() { l.TryAcquirePermit() })
				})
				b.Run("uber", func(b *testing.B) {
					l := uber.New(1e9, uber.WithoutSlack)
					run(b, mode.parallel, func() { l.Take() })
				})
				b.Run("gozero", func(b *testing.B) {
					l := goZero(b, 1e9, 1<<30)
					expect(b, true, l.Allow)
					run(b, mode.parallel, func() { l.Allow() })
				})
			})
			b.Run("reject", func(b *testing.B) {
				// The burst is taken before timing; the next token is far away.
				b.Run("levee", func(b *testing.B) {
					l, err := limit.NewTokenBucket(1e-3, 1)
					if err != nil {
						b.Fatal(err)
					}
					l.Allow()
					expect(b, false, l.Allow)
					run(b, mode.parallel, func() { l.Allow() })
				})
				b.Run("xtime", func(b *testing.B) {
					l := rate.NewLimiter(1e-3, 1)
					l.Allow()
					expect(b, false, l.Allow)
					run(b, mode.parallel, func() { l.Allow() })
				})
				b.Run("failsafe", func(b *testing.B) {
					l := ratelimiter.NewBursty[any](1, time.Hour)
					l.TryAcquirePermit()
					expect(b, false, l.TryAcquirePermit)
					run(b, mode.parallel, func() { l.TryAcquirePermit() })
				})
				b.Run("gozero", func(b *testing.B) {
					l := goZero(b, 1, 1) // its lowest rate: a token a second
					l.Allow()
					run(b, mode.parallel, func() { l.Allow() })
				})
			})
		})
	}
}

const numKeys = 100_000

func benchKeys() []string {
	keys := make([]string, numKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
	}
	return keys
}

// keyed runs allow over every key once before timing, then over the keys
// in turn, each goroutine from its own random start.
func keyed(b *testing.B, parallel bool, allow func(key string) bool) {
	keys := benchKeys()
	for _, k := range keys {
		if !allow(k) {
			b.Fatalf("key %s rejected", k)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := range b.N {
			allow(keys[i%numKeys])
		}
		return
	}
	var seed atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		i := rand.New(rand.NewPCG(seed.Add(1), 1)).IntN(numKeys)
		for pb.Next() {
			allow(keys[i])
			if i++; i == numKeys {
				i = 0
			}
		}
	})
}

// BenchmarkKeyedAllow: a decision for one of 100,000 known keys, each
// limited to 1,000 per second with a burst of 1,000 (every call passes).
func BenchmarkKeyedAllow(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []struct {
		name     string
		parallel bool
	}{{"serial", false}, {"parallel", true}} {
		b.Run(mode.name, func(b *testing.B) {
			b.Run("levee", func(b *testing.B) {
				tb, err := limit.NewTokenBucket(1000, 1000)
				if err != nil {
					b.Fatal(err)
				}
				k, err := limit.NewKeyed(tb, limit.WithMaxKeys(numKeys))
				if err != nil {
					b.Fatal(err)
				}
				keyed(b, mode.parallel, func(key string) bool {
					r, _ := k.AllowN(ctx, key, 1)
					return r.Allowed
				})
			})
			b.Run("sethvargo", func(b *testing.B) {
				s, err := memorystore.New(&memorystore.Config{Tokens: 1000, Interval: time.Second})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close(ctx)
				keyed(b, mode.parallel, func(key string) bool {
					_, _, _, ok, _ := s.Take(ctx, key)
					return ok
				})
			})
			b.Run("throttled", func(b *testing.B) {
				st, err := memstore.NewCtx(numKeys)
				if err != nil {
					b.Fatal(err)
				}
				l, err := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerSec(1000), MaxBurst: 999})
				if err != nil {
					b.Fatal(err)
				}
				keyed(b, mode.parallel, func(key string) bool {
					limited, _, _ := l.RateLimitCtx(ctx, key, 1)
					return !limited
				})
			})
			b.Run("ulule", func(b *testing.B) {
				l := ulule.New(ululemem.NewStore(), ulule.Rate{Period: time.Second, Limit: 1000})
				keyed(b, mode.parallel, func(key string) bool {
					c, _ := l.Get(ctx, key)
					return !c.Reached
				})
			})
		})
	}
}

// discard is a ResponseWriter that keeps nothing: the row measures the
// middleware, not a recorder.
type discard struct{ h http.Header }

func (w *discard) Header() http.Header         { return w.h }
func (w *discard) Write(p []byte) (int, error) { return len(p), nil }
func (w *discard) WriteHeader(int)             {}

// BenchmarkLimitMiddleware: a request from one of 1,000 clients through
// levee's middleware (key from RemoteAddr, token bucket per key, RateLimit
// headers), beside the bare handler.
func BenchmarkLimitMiddleware(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, mode := range []struct {
		name     string
		parallel bool
	}{{"serial", false}, {"parallel", true}} {
		b.Run(mode.name, func(b *testing.B) {
			serve := func(b *testing.B, h http.Handler) {
				b.ReportAllocs()
				b.ResetTimer()
				var seed atomic.Uint64
				body := func(next func() bool) {
					reqs := make([]*http.Request, 1000)
					for i := range reqs {
						r, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
						r.RemoteAddr = fmt.Sprintf("198.51.%d.%d:%d", i/256, i%256, 40000+i)
						reqs[i] = r
					}
					w := &discard{h: http.Header{}}
					i := int(seed.Add(1)) * 331 % len(reqs)
					for next() {
						clear(w.h)
						h.ServeHTTP(w, reqs[i])
						if i++; i == len(reqs) {
							i = 0
						}
					}
				}
				if mode.parallel {
					b.RunParallel(func(pb *testing.PB) { body(pb.Next) })
					return
				}
				n := 0
				body(func() bool { n++; return n <= b.N })
			}
			b.Run("levee", func(b *testing.B) {
				tb, err := limit.NewTokenBucket(1e6, 1e6)
				if err != nil {
					b.Fatal(err)
				}
				k, err := limit.NewKeyed(tb)
				if err != nil {
					b.Fatal(err)
				}
				m, err := limit.NewMiddleware(k)
				if err != nil {
					b.Fatal(err)
				}
				serve(b, m.Wrap(handler))
			})
			b.Run("bare", func(b *testing.B) { serve(b, handler) })
		})
	}
}

// BenchmarkKeyedHotKey: a goroutine hammers one key far over its quota
// while the benchmark's goroutine decides for 100,000 other keys; ns/op is
// the time of those other decisions, to compare with
// BenchmarkKeyedAllow/serial. A limiter whose hot key holds a lock the
// others need shows it here.
func BenchmarkKeyedHotKey(b *testing.B) {
	ctx := context.Background()
	hot := func(b *testing.B, allow func(key string) bool) {
		keys := benchKeys()
		for _, k := range keys {
			allow(k)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for range 100 {
					allow("hot")
				}
			}
		}()
		defer func() { close(stop); <-done }()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			allow(keys[i%numKeys])
		}
		b.StopTimer()
	}
	b.Run("levee", func(b *testing.B) {
		tb, err := limit.NewTokenBucket(1000, 1000)
		if err != nil {
			b.Fatal(err)
		}
		k, err := limit.NewKeyed(tb, limit.WithMaxKeys(2*numKeys))
		if err != nil {
			b.Fatal(err)
		}
		hot(b, func(key string) bool { r, _ := k.AllowN(ctx, key, 1); return r.Allowed })
	})
	b.Run("sethvargo", func(b *testing.B) {
		s, err := memorystore.New(&memorystore.Config{Tokens: 1000, Interval: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close(ctx)
		hot(b, func(key string) bool { _, _, _, ok, _ := s.Take(ctx, key); return ok })
	})
	b.Run("throttled", func(b *testing.B) {
		st, err := memstore.NewCtx(2 * numKeys)
		if err != nil {
			b.Fatal(err)
		}
		l, err := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerSec(1000), MaxBurst: 999})
		if err != nil {
			b.Fatal(err)
		}
		hot(b, func(key string) bool { limited, _, _ := l.RateLimitCtx(ctx, key, 1); return !limited })
	})
	b.Run("ulule", func(b *testing.B) {
		l := ulule.New(ululemem.NewStore(), ulule.Rate{Period: time.Second, Limit: 1000})
		hot(b, func(key string) bool { c, _ := l.Get(ctx, key); return !c.Reached })
	})
}
