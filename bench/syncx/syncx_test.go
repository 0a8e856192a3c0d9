package syncx

import (
	"context"
	"io"
	"strconv"
	"sync/atomic"
	"testing"

	zsyncx "github.com/zeromicro/go-zero/core/syncx"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/levee-go/levee/syncx"
)

// keys are made before any timer starts; the distinct case walks them so
// that (nearly) every call has a key of its own.
var keys = func() []string {
	k := make([]string, 1<<16)
	for i := range k {
		k[i] = "key-" + strconv.Itoa(i)
	}
	return k
}()

const keyMask = 1<<16 - 1

// The function every implementation runs. It returns a constant so that no
// implementation pays for boxing a result into an interface.
func fnTyped() (int, error) { return 42, nil }
func fnAny() (any, error)   { return 42, nil }

// do is one implementation of a SingleFlight Do on a string key.
type do func(key string)

func singleFlights() []struct {
	name string
	mk   func() do
} {
	return []struct {
		name string
		mk   func() do
	}{
		{"levee", func() do {
			var g syncx.SingleFlight[string, int]
			return func(key string) { g.Do(key, fnTyped) }
		}},
		{"xsync", func() do {
			var g singleflight.Group
			return func(key string) { g.Do(key, fnAny) }
		}},
		{"gozero", func() do {
			g := zsyncx.NewSingleFlight()
			return func(key string) { g.Do(key, fnAny) }
		}},
	}
}

func BenchmarkSingleFlightDo(b *testing.B) {
	for _, impl := range singleFlights() {
		b.Run("distinct/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			call := impl.mk()
			var seq atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine walks its own stretch of the keys.
				i := seq.Add(1) * 7919
				for pb.Next() {
					call(keys[i&keyMask])
					i++
				}
			})
		})
	}
	for _, impl := range singleFlights() {
		b.Run("hotkey/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			call := impl.mk()
			key := keys[0]
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					call(key)
				}
			})
		})
	}
}

// The context-aware form: a caller that can stop waiting. x/sync has no
// such Do; its DoChan with a select on ctx.Done is the equivalent (it
// cannot cancel the function when every caller has left).
func BenchmarkSingleFlightDoContext(b *testing.B) {
	fnCtx := func(context.Context) (int, error) { return 42, nil }
	impls := []struct {
		name string
		mk   func() func(ctx context.Context, key string)
	}{
		{"levee", func() func(context.Context, string) {
			var g syncx.SingleFlight[string, int]
			return func(ctx context.Context, key string) { g.DoContext(ctx, key, fnCtx) }
		}},
		{"xsync", func() func(context.Context, string) {
			var g singleflight.Group
			return func(ctx context.Context, key string) {
				select {
				case <-g.DoChan(key, fnAny):
				case <-ctx.Done():
				}
			}
		}},
	}
	for _, c := range []string{"distinct", "hotkey"} {
		for _, impl := range impls {
			b.Run(c+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				call := impl.mk()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var seq atomic.Uint64
				b.RunParallel(func(pb *testing.PB) {
					i := seq.Add(1) * 7919
					for pb.Next() {
						if c == "distinct" {
							call(ctx, keys[i&keyMask])
							i++
						} else {
							call(ctx, keys[0])
						}
					}
				})
			})
		}
	}
}

// limitCap is large enough that TryAcquire always succeeds: the benchmark
// measures the uncontended fast path under parallel load.
const limitCap = 1024

func BenchmarkLimit(b *testing.B) {
	b.Run("levee", func(b *testing.B) {
		b.ReportAllocs()
		l, err := syncx.NewLimit(limitCap)
		if err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if l.TryAcquire() {
					l.Release()
				}
			}
		})
	})
	b.Run("chan", func(b *testing.B) {
		b.ReportAllocs()
		sem := make(chan struct{}, limitCap)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				select {
				case sem <- struct{}{}:
					<-sem
				default:
				}
			}
		})
	})
	b.Run("xsync", func(b *testing.B) {
		b.ReportAllocs()
		sem := semaphore.NewWeighted(limitCap)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if sem.TryAcquire(1) {
					sem.Release(1)
				}
			}
		})
	})
	b.Run("gozero", func(b *testing.B) {
		b.ReportAllocs()
		l := zsyncx.NewLimit(limitCap)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if l.TryBorrow() {
					_ = l.Return()
				}
			}
		})
	})
}

// LockedCalls: each caller runs its own function, serialized per key. The
// distinct case walks the keys; the hotkey case serializes every caller.
func BenchmarkLockedCallsDo(b *testing.B) {
	impls := []struct {
		name string
		mk   func() do
	}{
		{"levee", func() do {
			var lc syncx.LockedCalls[string, int]
			return func(key string) { lc.Do(key, fnTyped) }
		}},
		{"gozero", func() do {
			lc := zsyncx.NewLockedCalls()
			return func(key string) { lc.Do(key, fnAny) }
		}},
	}
	for _, c := range []string{"distinct", "hotkey"} {
		for _, impl := range impls {
			b.Run(c+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				call := impl.mk()
				var seq atomic.Uint64
				b.RunParallel(func(pb *testing.PB) {
					i := seq.Add(1) * 7919
					for pb.Next() {
						if c == "distinct" {
							call(keys[i&keyMask])
							i++
						} else {
							call(keys[0])
						}
					}
				})
			})
		}
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// ResourceManager: the steady state, getting a resource that exists.
func BenchmarkResourceManagerGet(b *testing.B) {
	const nkeys = 64
	create := func() (nopCloser, error) { return nopCloser{}, nil }
	b.Run("levee", func(b *testing.B) {
		b.ReportAllocs()
		var m syncx.ResourceManager[string, nopCloser]
		defer m.Close()
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := seq.Add(1)
			for pb.Next() {
				if _, err := m.Get(keys[i%nkeys], create); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	b.Run("gozero", func(b *testing.B) {
		b.ReportAllocs()
		m := zsyncx.NewResourceManager()
		defer m.Close()
		createAny := func() (io.Closer, error) { return nopCloser{}, nil }
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := seq.Add(1)
			for pb.Next() {
				if _, err := m.GetResource(keys[i%nkeys], createAny); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}
