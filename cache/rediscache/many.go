package rediscache

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"github.com/redis/go-redis/v9"
)

// MaxTakeMany is the most keys one [Cache.TakeMany] call accepts.
const MaxTakeMany = 1 << 16

// TakeMany returns the values of keys, looking them up in one pipelined
// round trip and loading every missing one with one call of load. The map
// holds the keys that have a value; a key the loader leaves out of its map
// is remembered as not found, like a [Loader] returning [ErrNotFound], and
// is left out of the result too. Duplicate keys are looked up once; at most
// [MaxTakeMany] keys are accepted.
//
// Unlike [Cache.Take], the load runs on the caller's goroutine with its ctx
// and is not shared with concurrent calls, and no lease is taken. When Redis
// fails, the [RedisErrorPolicy] applies as for Take.
func (c *Cache[V]) TakeMany(ctx context.Context, keys []string, load func(ctx context.Context, missing []string) (map[string]V, error)) (map[string]V, error) {
	if load == nil {
		return nil, errors.New("rediscache: nil TakeMany loader")
	}
	if len(keys) > MaxTakeMany {
		return nil, fmt.Errorf("rediscache: TakeMany takes at most %d keys, got %d", MaxTakeMany, len(keys))
	}
	out := make(map[string]V, len(keys))
	seen := make(map[string]struct{}, len(keys))
	var epoch uint64
	if c.local != nil {
		epoch = c.local.epoch.Load()
	}
	ask := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		if c.local != nil {
			if e, ok := c.local.get(k); ok {
				c.st.hits[hitStripe()].local.Add(1)
				if e.notFound {
					c.st.notFoundHits.Add(1)
				} else {
					out[k] = e.v
				}
				continue
			}
		}
		ask = append(ask, k)
	}
	if len(ask) == 0 {
		return out, nil
	}

	now := c.cfg.clock.Now().UnixMilli()
	cmds := make([]*redis.StringCmd, len(ask))
	pctx := ctx
	var perr error
	probe := c.down.Load()
	if probe {
		var ok bool
		if pctx, ok = c.startProbe(ctx); !ok {
			perr = errOutage
		}
	}
	if perr == nil {
		_, perr = c.rdb.Pipelined(pctx, func(p redis.Pipeliner) error {
			for i, k := range ask {
				cmds[i] = p.Get(pctx, c.cfg.prefix+k)
			}
			return nil
		})
		if probe {
			c.endProbe(pctx)
		}
	}
	down := false
	if perr != nil && !errors.Is(perr, redis.Nil) {
		if cerr := ctx.Err(); cerr != nil {
			if cerr == context.DeadlineExceeded {
				c.redisFailed(ask[0], perr)
			}
			return nil, cerr
		}
		if perr != errOutage {
			c.redisFailed(ask[0], perr)
			perr = unavailable(perr)
		}
		if c.cfg.policy == FailFast {
			return nil, perr
		}
		down = true
	} else {
		c.redisUp()
	}
	missing := ask[:0] // reuses ask: entry i is read before slot i is written
	stale := make(map[string]V)
	for i, k := range ask {
		if down {
			missing = append(missing, k)
			continue
		}
		s, err := cmds[i].Result()
		if err != nil {
			missing = append(missing, k) // redis.Nil: a miss
			continue
		}
		v, kind, exp, derr := c.decode(s, now)
		switch kind {
		case readFresh:
			c.st.hits[hitStripe()].redis.Add(1)
			out[k] = v
			c.keepLocal(k, v, false, exp-now, epoch)
			continue
		case readNotFound:
			c.st.notFoundHits.Add(1)
			continue
		case readStale:
			stale[k] = v
		case readMiss:
			if derr != nil {
				c.corrupt(ctx, k, c.cfg.prefix+k, derr)
			}
		}
		missing = append(missing, k)
	}
	if len(missing) == 0 {
		return out, nil
	}
	c.st.misses.Add(int64(len(missing)))
	c.st.loads.Add(1)
	loaded, err := load(ctx, missing)
	if err != nil {
		c.st.loadErrors.Add(1)
		if len(stale) == len(missing) && ctx.Err() == nil {
			for k, v := range stale {
				out[k] = v
			}
			c.st.staleServed.Add(int64(len(stale)))
			return out, nil
		}
		return nil, err
	}
	if down {
		for _, k := range missing {
			if v, ok := loaded[k]; ok {
				out[k] = v
			}
		}
		return out, nil
	}

	type write struct {
		key string
		ttl int64
		buf *[]byte
		nf  bool
	}
	writes := make([]write, 0, len(missing))
	var encErr error
	_, werr := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range missing {
			rkey := c.cfg.prefix + k
			v, ok := loaded[k]
			if !ok {
				if c.cfg.notFoundTTL > 0 {
					ttl := jittered(c.cfg.notFoundTTL, c.cfg.jitter, c.rand())
					p.SetNX(ctx, rkey, placeholder, ttl)
					writes = append(writes, write{key: k, ttl: ttl.Milliseconds(), nf: true})
				}
				continue
			}
			out[k] = v
			ttl := jittered(c.cfg.ttl, c.cfg.jitter, c.rand())
			bp := buffers.Get().(*[]byte)
			b, err := c.record((*bp)[:0], v, now, ttl.Milliseconds())
			*bp = b
			if err != nil {
				encErr = err
				buffers.Put(bp)
				continue
			}
			p.Set(ctx, rkey, b, ttl+c.cfg.stale)
			writes = append(writes, write{key: k, ttl: ttl.Milliseconds(), buf: bp})
		}
		return nil
	})
	for _, w := range writes {
		if w.buf != nil && cap(*w.buf) <= maxPooledBuffer {
			buffers.Put(w.buf)
		}
		if werr == nil {
			var zero V
			v, nf := out[w.key], w.nf
			if nf {
				v = zero
			}
			c.keepLocal(w.key, v, nf, w.ttl, epoch)
		}
	}
	for _, k := range missing {
		c.fills[c.stripe(c.cfg.prefix+k)].Add(1)
	}
	if werr != nil {
		_ = c.redisErr(ctx, missing[0], werr)
	}
	if encErr != nil {
		return out, encErr
	}
	return out, nil
}

// bytesOf returns the bytes of s without copying them; they must not be
// modified.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
