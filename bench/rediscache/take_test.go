package rediscache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/zeromicro/go-zero/core/logx"
	zcache "github.com/zeromicro/go-zero/core/stores/cache"
	zredis "github.com/zeromicro/go-zero/core/stores/redis"
	zsyncx "github.com/zeromicro/go-zero/core/syncx"

	"github.com/levee-go/levee/cache/rediscache"
)

// record is the cached value: a small row of a database.
type record struct {
	ID    int64   `json:"id"`
	Name  string  `json:"name"`
	Email string  `json:"email"`
	Score float64 `json:"score"`
}

func rowOf(key string) record {
	return record{ID: int64(len(key)), Name: "Ada Lovelace", Email: "ada@example.com", Score: 97.5}
}

const ttl = time.Minute

var errNotFound = errors.New("not found")

// hot keys are read by the hit cases; made before any timer starts.
const hotKeys = 1024

var hot = func() []string {
	k := make([]string, hotKeys)
	for i := range k {
		k[i] = "hot:" + strconv.Itoa(i)
	}
	return k
}()

// cold keys are asked once each by the miss cases. They carry the
// process's start time, so no run finds the keys of an earlier one, and
// are made before any timer starts.
var (
	cold = func() []string {
		run := strconv.FormatInt(time.Now().UnixNano(), 36)
		k := make([]string, 1<<19)
		for i := range k {
			k[i] = "cold:" + run + ":" + strconv.Itoa(i)
		}
		return k
	}()
	coldNext atomic.Int64
)

func nextCold(b *testing.B) string {
	i := coldNext.Add(1)
	if i >= int64(len(cold)) {
		b.Fatal("out of cold keys: raise their number")
	}
	return cold[i]
}

func redisAddr(b *testing.B) string {
	b.Helper()
	addr := os.Getenv("LEVEE_REDIS_ADDR")
	if addr == "" {
		b.Skip("SKIPPING: LEVEE_REDIS_ADDR is not set; run under scripts/with-redis.sh")
	}
	return addr
}

func newClient(b *testing.B) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr(b)})
	b.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
	return rdb
}

// taker is one implementation: take returns the record of key, loading it
// with rowOf on a miss.
type taker interface {
	take(ctx context.Context, key string) (record, error)
}

type levee struct{ c *rediscache.Cache[record] }

func loadRow(_ context.Context, key string) (record, error) { return rowOf(key), nil }

func (l levee) take(ctx context.Context, key string) (record, error) {
	return l.c.Take(ctx, key, loadRow)
}

// msgpackCodec is levee's codec for msgpack, the encoding go-redis/cache
// uses by default.
type msgpackCodec struct{}

func (msgpackCodec) Append(dst []byte, v record) ([]byte, error) {
	b, err := msgpack.Marshal(v)
	return append(dst, b...), err
}

func (msgpackCodec) Decode(data []byte) (record, error) {
	var v record
	err := msgpack.Unmarshal(data, &v)
	return v, err
}

func newLevee(b *testing.B, local, mp bool) taker {
	opts := []rediscache.Option{rediscache.WithPrefix("bench:levee:"), rediscache.WithTTL(ttl)}
	if mp {
		opts = append(opts, rediscache.WithPrefix("bench:levee-msgpack:"), rediscache.WithCodec[record](msgpackCodec{}))
	}
	if local {
		opts = append(opts, rediscache.WithLocal(2*hotKeys, ttl))
	}
	c, err := rediscache.New[record](newClient(b), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return levee{c}
}

type goRedisCache struct {
	c      *goredis.Cache
	prefix string
}

func (g goRedisCache) take(ctx context.Context, key string) (record, error) {
	var v record
	err := g.c.Once(&goredis.Item{
		Ctx: ctx, Key: g.prefix + key, Value: &v, TTL: ttl,
		Do: func(*goredis.Item) (any, error) { return rowOf(key), nil },
	})
	return v, err
}

func newGoRedisCache(b *testing.B, local, mp bool) taker {
	opt := &goredis.Options{Redis: newClient(b)}
	if !mp {
		opt.Marshal, opt.Unmarshal = json.Marshal, json.Unmarshal
	}
	if local {
		opt.LocalCache = goredis.NewTinyLFU(2*hotKeys, ttl)
	}
	prefix := "bench:goredis-json:"
	if mp {
		prefix = "bench:goredis-msgpack:"
	}
	return goRedisCache{goredis.New(opt), prefix}
}

type goZero struct{ c zcache.Cache }

func (z goZero) take(ctx context.Context, key string) (record, error) {
	var v record
	err := z.c.TakeCtx(ctx, &v, "bench:gozero:"+key, func(v any) error {
		*v.(*record) = rowOf(key)
		return nil
	})
	return v, err
}

func newGoZero(b *testing.B) taker {
	logx.Disable()
	rds, err := zredis.NewRedis(zredis.RedisConf{Host: redisAddr(b), Type: zredis.NodeType})
	if err != nil {
		b.Fatal(err)
	}
	return goZero{zcache.NewNode(rds, zsyncx.NewSingleFlight(), zcache.NewStat("bench"), errNotFound, zcache.WithExpiry(ttl))}
}

// run calls take in parallel on the key next returns, checking a sample
// of the answers.
func run(b *testing.B, t taker, next func(i int) string) {
	ctx := context.Background()
	var failed atomic.Value
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1) << 20)
		for pb.Next() {
			i++
			v, err := t.take(ctx, next(i))
			if err != nil || v.ID == 0 {
				failed.Store(fmt.Sprintf("take: %+v, %v", v, err))
			}
		}
	})
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
}

// warm puts every hot key in Redis (and in the local tier, if any).
func warm(b *testing.B, t taker) {
	ctx := context.Background()
	for round := 0; round < 2; round++ {
		for _, k := range hot {
			if _, err := t.take(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
	}
}

type impl struct {
	name string
	make func(b *testing.B) taker
}

// BenchmarkRedisCacheTake compares the implementations with the same codec
// in each case (json, msgpack), so the rows measure the caches rather than
// the encodings; go-zero has JSON only. local-hit uses each one's default.
func BenchmarkRedisCacheTake(b *testing.B) {
	codecs := []struct {
		name  string
		impls []impl
	}{
		{"json", []impl{
			{"levee", func(b *testing.B) taker { return newLevee(b, false, false) }},
			{"goredis", func(b *testing.B) taker { return newGoRedisCache(b, false, false) }},
			{"gozero", newGoZero},
		}},
		{"msgpack", []impl{
			{"levee", func(b *testing.B) taker { return newLevee(b, false, true) }},
			{"goredis", func(b *testing.B) taker { return newGoRedisCache(b, false, true) }},
		}},
	}
	b.Run("hit", func(b *testing.B) {
		for _, codec := range codecs {
			b.Run(codec.name, func(b *testing.B) {
				for _, impl := range codec.impls {
					b.Run(impl.name, func(b *testing.B) {
						t := impl.make(b)
						warm(b, t)
						run(b, t, func(i int) string { return hot[i%hotKeys] })
					})
				}
			})
		}
	})
	b.Run("miss", func(b *testing.B) {
		for _, codec := range codecs {
			b.Run(codec.name, func(b *testing.B) {
				for _, impl := range codec.impls {
					b.Run(impl.name, func(b *testing.B) {
						t := impl.make(b)
						run(b, t, func(int) string { return nextCold(b) })
					})
				}
			})
		}
	})
	b.Run("local-hit", func(b *testing.B) {
		for _, impl := range []impl{
			{"levee", func(b *testing.B) taker { return newLevee(b, true, false) }},
			{"goredis", func(b *testing.B) taker { return newGoRedisCache(b, true, true) }},
		} {
			b.Run(impl.name, func(b *testing.B) {
				t := impl.make(b)
				warm(b, t)
				run(b, t, func(i int) string { return hot[i%hotKeys] })
			})
		}
	})
}
