package redislimit

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/levee-go/levee/limit/redislimit"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	sredis "github.com/ulule/limiter/v3/drivers/store/redis"
	zlimit "github.com/zeromicro/go-zero/core/limit"
	zredis "github.com/zeromicro/go-zero/core/stores/redis"
)

// redisAddr is the server scripts/with-redis.sh starts; without it the
// benchmark skips loudly (fails under CI=true).
func redisAddr(b *testing.B) string {
	b.Helper()
	addr := os.Getenv("LEVEE_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("CI") == "true" {
			b.Fatal("LEVEE_REDIS_ADDR is not set under CI=true: run under scripts/with-redis.sh")
		}
		b.Skip("SKIPPING: LEVEE_REDIS_ADDR is not set; run `scripts/with-redis.sh make bench BENCH=RedisLimit`")
	}
	return addr
}

// Limits high enough that every call is allowed: the benchmarks measure
// the decision's cost, not the limit.
const (
	rate  = 1_000_000 // per second
	quota = 1 << 30   // per window
)

// trips counts round trips: every command or pipeline a client sends (a
// go-redis hook; go-zero takes one too). Retries inside a command are not
// counted, script reloads are.
type trips struct{ n atomic.Int64 }

func (c *trips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *trips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *trips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// run measures allow in parallel and reports the round trips per call.
func run(b *testing.B, cnt *trips, allow func(ctx context.Context) bool) {
	b.Helper()
	ctx := context.Background()
	if !allow(ctx) { // warm up: connections, script loads
		b.Fatal("denied on the first call")
	}
	before := cnt.n.Load()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !allow(ctx) {
				b.Error("denied")
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cnt.n.Load()-before)/float64(b.N), "trips/op")
}

func BenchmarkRedisLimit(b *testing.B) {
	addr := redisAddr(b)
	cnt := &trips{}
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer rdb.Close()
	rdb.AddHook(cnt)
	zrdb := zredis.New(addr, zredis.WithHook(cnt))
	run := func(b *testing.B, allow func(ctx context.Context) bool) { run(b, cnt, allow) }
	key := func(impl string) string { return "bench:" + impl + ":" + strconv.FormatInt(time.Now().UnixNano(), 36) }
	levee := func(b *testing.B, l *redislimit.Limiter, err error) {
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		k := key("levee")
		run(b, func(ctx context.Context) bool {
			r, err := l.Allow(ctx, k)
			return err == nil && r.Allowed
		})
		if st := l.Stats(); st.Fallback > 0 || st.Errors > 0 {
			b.Fatalf("levee left Redis: %+v", st)
		}
	}
	// A generous timeout: on a loaded machine a call may take longer than
	// the default 50ms, and a fallback decision would not be a Redis one.
	timeout := redislimit.WithTimeout(time.Second)

	// Token buckets: GCRA (levee, redis_rate) and go-zero's token bucket.
	b.Run("token/levee", func(b *testing.B) {
		l, err := redislimit.NewTokenBucket(rdb, rate, rate, timeout)
		levee(b, l, err)
	})
	b.Run("token/redis_rate", func(b *testing.B) {
		l := redis_rate.NewLimiter(rdb)
		lim := redis_rate.Limit{Rate: rate, Burst: rate, Period: time.Second}
		k := key("redis_rate")
		run(b, func(ctx context.Context) bool {
			r, err := l.Allow(ctx, k, lim)
			return err == nil && r.Allowed > 0
		})
	})
	b.Run("token/gozero", func(b *testing.B) {
		l := zlimit.NewTokenLimiter(rate, rate, zrdb, key("gozero"))
		run(b, func(ctx context.Context) bool { return l.AllowCtx(ctx) })
	})

	// Fixed windows: levee, go-zero's PeriodLimit, ulule/limiter.
	b.Run("window/levee", func(b *testing.B) {
		l, err := redislimit.NewFixedWindow(rdb, quota, time.Second, timeout)
		levee(b, l, err)
	})
	b.Run("window/gozero", func(b *testing.B) {
		l := zlimit.NewPeriodLimit(1, quota, zrdb, key("gozero-period"))
		run(b, func(ctx context.Context) bool {
			code, err := l.TakeCtx(ctx, "k")
			return err == nil && code == zlimit.Allowed
		})
	})
	b.Run("window/ulule", func(b *testing.B) {
		store, err := sredis.NewStoreWithOptions(rdb, limiter.StoreOptions{Prefix: key("ulule")})
		if err != nil {
			b.Fatal(err)
		}
		l := limiter.New(store, limiter.Rate{Period: time.Second, Limit: quota})
		run(b, func(ctx context.Context) bool {
			c, err := l.Get(ctx, "k")
			return err == nil && !c.Reached
		})
	})
	b.Run("sliding/levee", func(b *testing.B) {
		l, err := redislimit.NewSlidingWindow(rdb, quota, time.Second, timeout)
		levee(b, l, err)
	})

	// Leasing: 100 tokens per round trip.
	b.Run("lease100/levee", func(b *testing.B) {
		l, err := redislimit.NewTokenBucket(rdb, rate, rate, timeout, redislimit.WithLease(100))
		levee(b, l, err)
	})
}
