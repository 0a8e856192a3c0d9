package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/levee-go/levee/limit"
	"github.com/redis/go-redis/v9"
)

// Errors a limiter returns. A caller's own cancellation is returned as
// ctx.Err() instead.
var (
	// ErrClosed is returned by calls on a closed limiter.
	ErrClosed = errors.New("redislimit: limiter closed")
	// ErrBadReply is returned when Redis answers a limiter script with
	// something the script does not produce (a different script under the
	// same SHA, a proxy answering nonsense).
	ErrBadReply = errors.New("redislimit: unexpected reply from redis")
)

// Maximums of the constructors' arguments.
const (
	// MaxRate is the highest token rate per second, one token per
	// microsecond, the resolution of the server clock.
	MaxRate = 1e6
	// MaxBurst is the largest burst and window limit.
	MaxBurst = 1 << 30
	// MaxWindow is the longest window.
	MaxWindow = 365 * 24 * time.Hour
)

// Mode tells who decides a limiter's calls.
type Mode int32

const (
	ModeRedis    Mode = iota // calls go to Redis
	ModeFallback             // Redis failed: the fallback decides until the probe reaches Redis
)

func (m Mode) String() string {
	switch m {
	case ModeRedis:
		return "redis"
	case ModeFallback:
		return "fallback"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Event reports a switch between Redis and the fallback; see
// [WithEventHook].
type Event struct {
	Mode Mode      // the mode switched to
	Err  error     // ModeFallback: the failure that caused the switch
	Time time.Time // when, on the limiter's clock
}

// Stats is a snapshot of a limiter's counters, a plain value.
type Stats struct {
	Mode       Mode
	Allowed    int64 // calls allowed, whoever decided
	Denied     int64 // calls denied, whoever decided
	Errors     int64 // calls that returned an error (not counting the caller's own ctx)
	RoundTrips int64 // round trips to Redis, the probe's included (a script reload makes two)
	Fallback   int64 // calls decided by the fallback
	Local      int64 // calls decided from a lease or a remembered denial (WithLease)
	ToFallback int64 // switches from Redis to the fallback
	ToRedis    int64 // switches back to Redis
}

type kind int

const (
	kindToken kind = iota
	kindFixed
	kindSliding
)

// Limiter is a rate limiter whose state lives in Redis, shared by every
// instance that uses the same client, prefix and key. It is made by
// [NewTokenBucket], [NewFixedWindow] or [NewSlidingWindow], and is safe for
// concurrent use by multiple goroutines. A Limiter that has switched to its
// fallback runs one background probe; [Limiter.Close] stops it.
type Limiter struct {
	rdb      redis.UniversalClient
	lua      script
	kind     kind
	capacity int           // burst or window limit: the most one call may ask
	limit    int           // Result.Limit
	argv     [2]any        // the script's fixed arguments, boxed once
	window   time.Duration // Result.Window: burst/rate, or the window
	cfg      config
	local    allower // FallbackLocal's limiter, nil otherwise
	leases   *leases // nil without WithLease

	mode      atomic.Int32
	deadlines deadlines
	sha       any                    // the script's SHA1, boxed once
	probeKey  atomic.Pointer[string] // a key whose call failed: the probe asks Redis about it

	allowed, denied, errs, trips, fallback, localHits, toFallback, toRedis atomic.Int64

	mu     sync.Mutex // guards closed and probe start
	closed atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup
	logMu  sync.Mutex // orders log lines of switches
}

// allower is the method set of an in-process fallback limiter.
type allower interface {
	AllowN(ctx context.Context, key string, n int) (Result, error)
}

// NewTokenBucket returns a token bucket (GCRA) limiter: each key's bucket
// holds up to burst tokens and refills at rate tokens per second; a call
// for n tokens is allowed when n are there. rate is in (0, [MaxRate]],
// burst in [1, [MaxBurst]], and burst/rate at most [MaxWindow].
func NewTokenBucket(rdb redis.UniversalClient, rate float64, burst int, opts ...TokenOption) (*Limiter, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			c.fail("nil option")
			continue
		}
		o.applyToken(&c)
	}
	if !(rate > 0 && rate <= MaxRate) {
		c.fail("rate must be in (0, %g] per second, got %v", float64(MaxRate), rate)
	}
	if burst < 1 || burst > MaxBurst {
		c.fail("burst must be between 1 and %d, got %d", MaxBurst, burst)
	}
	interval := 1e6 / rate // µs per token
	if rate > 0 && burst >= 1 && float64(burst)/rate > MaxWindow.Seconds() {
		c.fail("burst/rate (the time an empty bucket takes to fill) must be at most %v, got %d/%v", MaxWindow, burst, rate)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	refill := time.Duration(interval * 1e3 * float64(burst))
	l, err := newLimiter(rdb, kindToken, tokenLua, burst, refill, c,
		strconv.FormatFloat(interval, 'g', 17, 64), strconv.Itoa(burst))
	if err != nil {
		return nil, err
	}
	if c.fallback == FallbackLocal {
		l.local, err = newLocalToken(rate/float64(c.instances), ceilDiv(burst, c.instances), c)
	}
	if err == nil && c.lease > 0 {
		ttl := time.Duration(float64(max(burst, c.lease*c.instances)) * interval * 1e3)
		ttl = max(ttl, time.Second)
		l.leases = newLeases(c.maxKeys, ttl)
	}
	return l, err
}

// NewFixedWindow returns a fixed window limiter: each key allows limit
// calls (or tokens) per window, windows aligned on the Redis server's clock.
// Cheap, but a burst of up to 2×limit can pass across a window boundary;
// [NewSlidingWindow] smooths that. limit in [1, [MaxBurst]]; window a whole
// number of microseconds in [1ms, [MaxWindow]].
func NewFixedWindow(rdb redis.UniversalClient, limit int, window time.Duration, opts ...WindowOption) (*Limiter, error) {
	return newWindow(rdb, kindFixed, fixedLua, limit, window, opts)
}

// NewSlidingWindow returns a sliding window limiter: each key allows limit
// calls (or tokens) in any window-long interval, estimated from two fixed
// windows (the previous window's count weighted by its overlap), which is
// exact for evenly spread traffic and errs by at most the previous window's
// unevenness otherwise. Arguments as for [NewFixedWindow].
func NewSlidingWindow(rdb redis.UniversalClient, limit int, window time.Duration, opts ...WindowOption) (*Limiter, error) {
	return newWindow(rdb, kindSliding, slidingLua, limit, window, opts)
}

func newWindow(rdb redis.UniversalClient, k kind, lua script, limit int, window time.Duration, opts []WindowOption) (*Limiter, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			c.fail("nil option")
			continue
		}
		o.applyWindow(&c)
	}
	if limit < 1 || limit > MaxBurst {
		c.fail("limit must be between 1 and %d, got %d", MaxBurst, limit)
	}
	if window < time.Millisecond || window > MaxWindow || window%time.Microsecond != 0 {
		c.fail("window must be a whole number of microseconds between 1ms and %v, got %v", MaxWindow, window)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	l, err := newLimiter(rdb, k, lua, limit, window, c,
		strconv.FormatInt(window.Microseconds(), 10), strconv.Itoa(limit))
	if err != nil {
		return nil, err
	}
	if c.fallback == FallbackLocal {
		l.local, err = newLocalWindow(k == kindSliding, ceilDiv(limit, c.instances), window, c)
	}
	return l, err
}

func newLimiter(rdb redis.UniversalClient, k kind, lua script, capacity int, per time.Duration, c config, a1, a2 string) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("redislimit: nil redis client")
	}
	if err := checkClient(rdb, c.timeout); err != nil {
		return nil, err
	}
	l := &Limiter{
		rdb: rdb, lua: lua, kind: k, capacity: capacity, limit: capacity,
		argv: [2]any{a1, a2}, window: per, cfg: c, stop: make(chan struct{}),
	}
	l.sha = lua.sha
	return l, nil
}

// checkClient refuses a client that would block a call past the limiter's
// timeout: go-redis ignores a context's deadline on the network unless
// ContextTimeoutEnabled is set, and waits ReadTimeout (3s by default) for a
// stalled server instead.
func checkClient(rdb redis.UniversalClient, timeout time.Duration) error {
	var ctxTimeout bool
	var read, write time.Duration
	switch c := rdb.(type) {
	case *redis.Client:
		o := c.Options()
		ctxTimeout, read, write = o.ContextTimeoutEnabled, o.ReadTimeout, o.WriteTimeout
	case *redis.ClusterClient:
		o := c.Options()
		ctxTimeout, read, write = o.ContextTimeoutEnabled, o.ReadTimeout, o.WriteTimeout
	case *redis.Ring:
		o := c.Options()
		ctxTimeout, read, write = o.ContextTimeoutEnabled, o.ReadTimeout, o.WriteTimeout
	default:
		return nil // unknown implementation: its own business
	}
	if ctxTimeout || (read > 0 && read <= timeout && write > 0 && write <= timeout) {
		return nil
	}
	return fmt.Errorf("redislimit: the redis client ignores context deadlines (ContextTimeoutEnabled is false) and waits up to "+
		"ReadTimeout %v for a stalled server, longer than the limiter's timeout %v: set ContextTimeoutEnabled: true in its options", read, timeout)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// Allow is AllowN(ctx, key, 1).
func (l *Limiter) Allow(ctx context.Context, key string) (Result, error) {
	return l.AllowN(ctx, key, 1)
}

// AllowN reports whether n tokens (calls) may pass now for key, taking them
// if so. It makes one round trip to Redis, bounded by the timeout
// ([WithTimeout]); if Redis cannot be reached in time, or is already known
// to be down, the fallback decides instead ([WithFallback]) and the error is
// nil. A Redis error that is not an outage (a key of the wrong type, corrupt
// state) is returned as the error, as is ctx.Err() when the caller's ctx
// ends first; neither switches to the fallback. n must be between 0 and the
// burst (window limit); n = 0 reports the state without taking anything.
func (l *Limiter) AllowN(ctx context.Context, key string, n int) (Result, error) {
	if n < 0 || n > l.capacity {
		l.errs.Add(1)
		return Result{Limit: l.limit, RetryAfter: limit.Forever, Window: l.window}, l.nError(n)
	}
	if err := ctx.Err(); err != nil {
		return Result{Limit: l.limit}, err
	}
	if l.closed.Load() {
		l.errs.Add(1)
		return Result{Limit: l.limit}, ErrClosed
	}
	if Mode(l.mode.Load()) == ModeFallback {
		return l.fallbackN(ctx, key, n)
	}
	var now time.Time
	want := n
	if l.leases != nil && n > 0 {
		now = l.cfg.clock.Now()
		if r, ok := l.leases.take(key, n, now); ok {
			l.localHits.Add(1)
			l.count(r.Allowed)
			r.Limit, r.Window = l.limit, l.window
			return r, nil
		}
		want = max(n, l.cfg.lease)
	}
	rep, err := l.eval(ctx, key, n, want)
	if err != nil {
		if ctx.Err() != nil {
			return Result{Limit: l.limit}, ctx.Err()
		}
		if !outage(err) {
			l.errs.Add(1)
			return Result{Limit: l.limit}, err
		}
		l.switchToFallback(key, err)
		return l.fallbackN(ctx, key, n)
	}
	if l.leases != nil && n > 0 {
		l.leases.put(key, rep, n, now)
	}
	l.count(rep.allowed)
	return l.result(rep), nil
}

func (l *Limiter) count(allowed bool) {
	if allowed {
		l.allowed.Add(1)
	} else {
		l.denied.Add(1)
	}
}

func (l *Limiter) nError(n int) error {
	return fmt.Errorf("redislimit: cost must be between 0 and %d, got %d: %w", l.capacity, n, limit.ErrInvalidCost)
}

func (l *Limiter) result(r reply) Result {
	res := Result{
		Allowed:    r.allowed,
		Limit:      l.limit,
		Remaining:  int(min(r.remaining, int64(l.limit))),
		ResetAfter: usec(r.reset),
		Window:     l.window,
	}
	if !r.allowed {
		if r.retry < 0 {
			res.RetryAfter = limit.Forever
		} else {
			res.RetryAfter = usec(r.retry)
		}
	}
	return res
}

// usec converts microseconds from a script to a Duration, saturating.
func usec(us int64) time.Duration {
	if us > int64(limit.Forever/time.Microsecond) {
		return limit.Forever
	}
	return time.Duration(us) * time.Microsecond
}

// key returns the Redis key of a caller's key, hash-tagged so Cluster
// hashes only the caller's key: prefix + "{" + key + "}".
func (l *Limiter) key(key string) string {
	return l.cfg.prefix + "{" + key + "}"
}

// eval runs the limiter's script: EVALSHA, and on NOSCRIPT (a restarted or
// flushed server, a new Cluster node) EVAL, which loads it again. It builds
// the command itself from arguments boxed once per limiter, rather than
// through EvalSha, which boxes them on every call.
func (l *Limiter) eval(ctx context.Context, key string, n, want int) (reply, error) {
	ctx, cancel := l.withTimeout(ctx, l.cfg.timeout)
	defer cancel()
	k := l.key(key)
	l.trips.Add(1)
	cmd := l.command(ctx, "evalsha", l.sha, k, n, want)
	_ = l.rdb.Process(ctx, cmd)
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		l.trips.Add(1)
		cmd = l.command(ctx, "eval", l.lua.src, k, n, want)
		_ = l.rdb.Process(ctx, cmd)
	}
	if err := cmd.Err(); err != nil {
		return reply{}, err
	}
	s, ok := cmd.Val().(string)
	if !ok {
		return reply{}, ErrBadReply
	}
	r, ok := parseReply(s)
	if !ok || (r.allowed && (r.taken < int64(n) || r.taken > int64(want))) || r.remaining < 0 || r.reset < 0 {
		return reply{}, ErrBadReply
	}
	return r, nil
}

// command is EVALSHA sha 1 key argv... (or EVAL src ...).
func (l *Limiter) command(ctx context.Context, name string, script any, key string, n, want int) *redis.Cmd {
	if l.kind == kindToken {
		return redis.NewCmd(ctx, name, script, 1, key, l.argv[0], l.argv[1], n, want)
	}
	return redis.NewCmd(ctx, name, script, 1, key, l.argv[0], l.argv[1], n)
}

// outage reports whether err means Redis cannot decide now (unreachable,
// timed out, failing over, loading), as opposed to a reply that is an error
// about the data or the script.
func outage(err error) bool {
	if errors.Is(err, ErrBadReply) || errors.Is(err, redis.ErrClosed) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range [...]string{"CLUSTERDOWN", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "NOREPLICAS", "BUSY ", "MOVED", "ASK "} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true // network errors, timeouts, a protocol the client cannot parse
}

// fallbackN decides a call without Redis.
func (l *Limiter) fallbackN(ctx context.Context, key string, n int) (Result, error) {
	l.fallback.Add(1)
	var r Result
	switch l.cfg.fallback {
	case FallbackOpen:
		r = Result{Allowed: true, Limit: l.limit, Remaining: l.limit}
	case FallbackClosed:
		r = Result{Limit: l.limit, RetryAfter: l.cfg.probe, ResetAfter: l.cfg.probe}
	default:
		var err error
		r, err = l.local.AllowN(ctx, key, n)
		if err != nil {
			if ctx.Err() == nil {
				l.errs.Add(1)
			}
			return Result{Limit: l.limit}, err
		}
	}
	r.Limit, r.Window = l.limit, l.window
	l.count(r.Allowed)
	return r, nil
}

// switchToFallback moves the limiter to its fallback, once per outage, and
// starts the probe that brings it back.
func (l *Limiter) switchToFallback(key string, cause error) {
	if !l.mode.CompareAndSwap(int32(ModeRedis), int32(ModeFallback)) {
		return
	}
	l.probeKey.Store(&key)
	l.toFallback.Add(1)
	if l.leases != nil {
		l.leases.clear() // leased tokens are Redis's view; the fallback has its own
	}
	l.mu.Lock()
	if !l.closed.Load() {
		l.wg.Add(1)
		go l.probe()
	}
	l.mu.Unlock()
	l.notify(Event{Mode: ModeFallback, Err: cause, Time: l.cfg.clock.Now()})
}

// probe asks Redis every probe interval, by running the limiter's script
// for 0 tokens on the key whose call failed (so on Cluster it asks the node
// that serves that key, after reloading the slot map), until it answers;
// then it switches the limiter back. It ends early when the limiter is
// closed.
func (l *Limiter) probe() {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.probe)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if cc, ok := l.rdb.(*redis.ClusterClient); ok {
			// go-redis reloads a cluster's slot map only on MOVED and every
			// ClusterStateReloadInterval (10s), not when a master dies: ask
			// for the new map, or calls keep going to the dead node.
			ctx, cancel := context.WithTimeout(context.Background(), l.cfg.timeout)
			cc.ReloadState(ctx)
			cancel()
		}
		_, err := l.eval(context.Background(), *l.probeKey.Load(), 0, 0)
		if err == nil || !outage(err) {
			l.mode.Store(int32(ModeRedis))
			l.toRedis.Add(1)
			l.notify(Event{Mode: ModeRedis, Time: l.cfg.clock.Now()})
			return
		}
	}
}

func (l *Limiter) notify(e Event) {
	if lg := l.cfg.logger; lg != nil {
		l.logMu.Lock()
		if e.Mode == ModeFallback {
			lg.LogAttrs(context.Background(), slog.LevelWarn, "redislimit: redis unreachable, using the fallback",
				slog.String("fallback", l.cfg.fallback.String()), slog.String("prefix", l.cfg.prefix), slog.Any("err", e.Err))
		} else {
			lg.LogAttrs(context.Background(), slog.LevelInfo, "redislimit: redis answers again, leaving the fallback",
				slog.String("prefix", l.cfg.prefix))
		}
		l.logMu.Unlock()
	}
	if l.cfg.hook != nil {
		l.cfg.hook(e)
	}
}

// Mode reports who decides the limiter's calls now.
func (l *Limiter) Mode() Mode { return Mode(l.mode.Load()) }

// Stats returns a snapshot of the limiter's counters.
func (l *Limiter) Stats() Stats {
	return Stats{
		Mode:       Mode(l.mode.Load()),
		Allowed:    l.allowed.Load(),
		Denied:     l.denied.Load(),
		Errors:     l.errs.Load(),
		RoundTrips: l.trips.Load(),
		Fallback:   l.fallback.Load(),
		Local:      l.localHits.Load(),
		ToFallback: l.toFallback.Load(),
		ToRedis:    l.toRedis.Load(),
	}
}

// Close stops the limiter's probe, if one runs, and waits for it. Later
// calls return [ErrClosed]. It does not close the Redis client, which the
// caller owns. Close is idempotent and always returns nil.
func (l *Limiter) Close() error {
	l.mu.Lock()
	if !l.closed.Load() {
		l.closed.Store(true)
		close(l.stop)
	}
	l.mu.Unlock()
	l.wg.Wait()
	if c, ok := l.local.(interface{ Close() error }); ok {
		_ = c.Close()
	}
	return nil
}
