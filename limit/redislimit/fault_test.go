package redislimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/levee-go/levee/limit/redislimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test group 2: faults. The test starts its own redis-server, SIGKILLs it
// mid-run and starts it again on the same port.

type eventLog struct {
	mu     sync.Mutex
	events []redislimit.Event
	at     []time.Time
}

func (e *eventLog) hook(ev redislimit.Event) {
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.at = append(e.at, time.Now())
	e.mu.Unlock()
}

func (e *eventLog) snapshot() ([]redislimit.Event, []time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]redislimit.Event(nil), e.events...), append([]time.Time(nil), e.at...)
}

func TestFaultKillAndRestart(t *testing.T) {
	t.Parallel() // a server of its own; runs beside TestClusterFailover's wait
	srv := startRedis(t)
	const (
		timeout = 250 * time.Millisecond
		workers = 4
		// go-redis stops dialing for up to a second once a client's pool
		// saw PoolSize failed dials in a row (20 here: 10 per CPU); probes
		// 200ms apart keep a 2s outage below that, so recovery is ours.
		probe  = 200 * time.Millisecond
		before = 1 * time.Second // on Redis
		outage = 2 * time.Second // killed
		after  = 1 * time.Second // restarted
	)
	p := prefix(t)
	type instance struct {
		l   *redislimit.Limiter
		log *eventLog
	}
	var fleet []instance
	for i := 0; i < accInstances; i++ {
		rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), PoolSize: 20, ContextTimeoutEnabled: true})
		t.Cleanup(func() { rdb.Close() })
		log := &eventLog{}
		l, err := redislimit.NewTokenBucket(rdb, accRate, accBurst, redislimit.WithPrefix(p),
			redislimit.WithInstances(accInstances), redislimit.WithTimeout(timeout),
			redislimit.WithProbeInterval(probe), redislimit.WithEventHook(log.hook))
		require.NoError(t, err)
		closeLimiter(t, l)
		fleet = append(fleet, instance{l, log})
	}

	start := time.Now()
	killAt := start.Add(before)
	restartAt := killAt.Add(outage)
	end := restartAt.Add(after)
	var (
		mu         sync.Mutex
		maxLatency time.Duration
		admitted   [3]int64 // per phase, by the call's start
		errs       atomic.Int64
		wg         sync.WaitGroup
	)
	phase := func(t0 time.Time) int {
		switch {
		case t0.Before(killAt):
			return 0
		case t0.Before(restartAt):
			return 1
		}
		return 2
	}
	for _, in := range fleet {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(l *redislimit.Limiter) {
				defer wg.Done()
				ctx := context.Background()
				for {
					t0 := time.Now()
					if !t0.Before(end) {
						return
					}
					r, err := l.Allow(ctx, "shared")
					d := time.Since(t0)
					mu.Lock()
					maxLatency = max(maxLatency, d)
					if err == nil && r.Allowed {
						admitted[phase(t0)]++
					}
					mu.Unlock()
					if err != nil {
						errs.Add(1)
						continue
					}
					if !r.Allowed {
						time.Sleep(min(r.RetryAfter, time.Millisecond))
					}
				}
			}(in.l)
		}
	}

	time.Sleep(time.Until(killAt))
	srv.kill()
	tripsAtKill := int64(0)
	for _, in := range fleet {
		tripsAtKill += in.l.Stats().RoundTrips
	}
	time.Sleep(time.Until(restartAt))
	tripsAtRestart := int64(0)
	for _, in := range fleet {
		tripsAtRestart += in.l.Stats().RoundTrips
		assert.Equal(t, redislimit.ModeFallback, in.l.Mode())
	}
	restartBegin := time.Now()
	srv.restart()
	restarted := time.Now()
	wg.Wait()

	assert.Zero(t, errs.Load(), "no call returns an error: the fallback decides")
	// What the configured fallback allows: each instance's share of the
	// burst, plus its share of the rate from its switch to the restart
	// (4×5 + 200×2s = 420 were the switch instant).
	fallbackWant := 0.0
	for _, in := range fleet {
		_, at := in.log.snapshot()
		require.NotEmpty(t, at)
		switched := at[len(at)-1]
		if len(at)%2 == 0 { // ended on Redis: the last switch to the fallback is one before
			switched = at[len(at)-2]
		}
		fallbackWant += float64(ceilDiv(accBurst, accInstances)) + accRate/accInstances*restartAt.Sub(switched).Seconds()
	}
	t.Logf("admitted: %d before the kill, %d during the %v outage (fallback allows %.0f), %d in the %v after the restart; max call latency %v (timeout %v)",
		admitted[0], admitted[1], outage, fallbackWant, admitted[2], after, maxLatency, timeout)
	t.Logf("round trips during the outage: %d (probes at most %d per instance)", tripsAtRestart-tripsAtKill, int(outage/probe)+1)
	t.Logf("restarted %v after the kill, answering %v later", restartBegin.Sub(killAt), restarted.Sub(restartBegin))

	// No call blocks past the timeout (plus scheduling slack on a loaded,
	// race-instrumented machine).
	assert.Less(t, maxLatency, timeout+150*time.Millisecond)
	// Fleet-wide admission during the outage within 10% of the fallback.
	assert.InDelta(t, fallbackWant, float64(admitted[1]), fallbackWant*0.10)
	// Straight to the fallback after the first failure: per instance, at
	// most its workers' in-flight calls failed, the rest were probes.
	assert.LessOrEqual(t, tripsAtRestart-tripsAtKill, int64(accInstances*(workers+int(outage/probe)+1)))
	// After the restart the fleet is exact again, give or take one fallback
	// window: the restarted server's empty bucket (burst) plus the local
	// buckets' leftovers.
	assert.LessOrEqual(t, float64(admitted[2]), accRate*after.Seconds()+accBurst+float64(accInstances*ceilDiv(accBurst, accInstances))+2)

	for i, in := range fleet {
		evs, at := in.log.snapshot()
		// While the server is down: exactly one switch, to the fallback, on
		// the first failed call right after the kill.
		var during []int
		for j := range evs {
			if !at[j].Before(killAt) && at[j].Before(restartBegin) {
				during = append(during, j)
			}
		}
		require.Len(t, during, 1, "instance %d: events %+v", i, evs)
		j := during[0]
		assert.Equal(t, redislimit.ModeFallback, evs[j].Mode, "instance %d", i)
		assert.Error(t, evs[j].Err, "instance %d", i)
		assert.Less(t, at[j].Sub(killAt), timeout+150*time.Millisecond, "instance %d", i)
		// Back on Redis within the probe interval (plus one probe's round
		// trip) after the restart.
		require.Greater(t, len(evs), j+1, "instance %d: never back on Redis", i)
		assert.Equal(t, redislimit.ModeRedis, evs[j+1].Mode, "instance %d", i)
		assert.Less(t, at[j+1].Sub(restarted), probe+timeout, "instance %d", i)
		// On a starved machine a call may also time out outside the outage:
		// an outage of its own, which the probe ends too.
		if len(evs) != 2 {
			t.Logf("instance %d: %d switches besides the outage's (calls timed out on a loaded machine)", i, len(evs)-2)
		}
	}
	// Every instance ends on Redis.
	deadline := time.Now().Add(2 * probe)
	for _, in := range fleet {
		for in.l.Mode() != redislimit.ModeRedis && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		st := in.l.Stats()
		assert.Equal(t, redislimit.ModeRedis, st.Mode)
		assert.Equal(t, st.ToFallback, st.ToRedis)
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// A caller's own cancellation or deadline is its error, never a reason to
// leave Redis.
func TestCallerContextNeverFlips(t *testing.T) {
	srv := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	l, err := redislimit.NewTokenBucket(rdb, 10, 10, redislimit.WithPrefix(prefix(t)), redislimit.WithTimeout(2*time.Second))
	require.NoError(t, err)
	closeLimiter(t, l)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = l.Allow(ctx, "k")
	assert.ErrorIs(t, err, context.Canceled)
	_, err = l.Allow(context.Background(), "k") // a connection in the pool
	require.NoError(t, err)

	// The server stalls every client for 500ms; the caller gives up after 50.
	admin := redis.NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { admin.Close() })
	require.NoError(t, admin.Do(context.Background(), "CLIENT", "PAUSE", "500", "ALL").Err())
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	t0 := time.Now()
	_, err = l.Allow(ctx, "k")
	cancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(t0), 300*time.Millisecond)

	st := l.Stats()
	assert.Equal(t, redislimit.ModeRedis, st.Mode)
	assert.Zero(t, st.ToFallback)
	assert.Zero(t, st.Fallback)
	assert.Zero(t, st.Errors)
	assert.Equal(t, int64(1), st.Allowed+st.Denied)
}

// With nothing listening, the first call already decides by the policy.
func TestFallbackPolicies(t *testing.T) {
	needRedisServer(t)
	addr := "127.0.0.1:" + itoa(freePort(t)) // nothing listens there
	for _, tc := range []struct {
		policy  redislimit.Fallback
		allowed []bool
	}{
		{redislimit.FallbackOpen, []bool{true, true, true, true, true}},
		{redislimit.FallbackClosed, []bool{false, false, false, false, false}},
		// 4 instances share burst 8: this one's share is 2.
		{redislimit.FallbackLocal, []bool{true, true, false, false, false}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
			t.Cleanup(func() { rdb.Close() })
			var buf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, nil))
			log := &eventLog{}
			l, err := redislimit.NewTokenBucket(rdb, 0.001, 8, redislimit.WithFallback(tc.policy),
				redislimit.WithInstances(4), redislimit.WithEventHook(log.hook), redislimit.WithLogger(logger),
				redislimit.WithProbeInterval(time.Hour))
			require.NoError(t, err)
			var got []bool
			for range tc.allowed {
				r, err := l.Allow(context.Background(), "k")
				require.NoError(t, err)
				assert.Equal(t, 8, r.Limit)
				if tc.policy == redislimit.FallbackClosed {
					assert.Equal(t, time.Hour, r.RetryAfter)
				}
				got = append(got, r.Allowed)
			}
			assert.Equal(t, tc.allowed, got)
			st := l.Stats()
			assert.Equal(t, redislimit.ModeFallback, st.Mode)
			assert.Equal(t, int64(1), st.RoundTrips, "one failed call, then straight to the fallback")
			assert.Equal(t, int64(len(tc.allowed)), st.Fallback)
			assert.Equal(t, int64(1), st.ToFallback)
			evs, _ := log.snapshot()
			require.Len(t, evs, 1)
			assert.Equal(t, redislimit.ModeFallback, evs[0].Mode)
			assert.Contains(t, buf.String(), "level=WARN")
			assert.Contains(t, buf.String(), "fallback="+tc.policy.String())
			require.NoError(t, l.Close())
			require.NoError(t, l.Close())
			_, err = l.Allow(context.Background(), "k")
			assert.True(t, errors.Is(err, redislimit.ErrClosed))
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A server that stops answering (SIGSTOP) is an outage too: calls wait at
// most the timeout, then the fallback decides until the server is back.
func TestFaultStalledServer(t *testing.T) {
	srv := startRedis(t)
	const timeout = 300 * time.Millisecond
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	l, err := redislimit.NewTokenBucket(rdb, 1000, 100, redislimit.WithPrefix(prefix(t)),
		redislimit.WithTimeout(timeout), redislimit.WithProbeInterval(50*time.Millisecond))
	require.NoError(t, err)
	closeLimiter(t, l)
	ctx := context.Background()
	_, err = l.Allow(ctx, "k")
	require.NoError(t, err)

	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGSTOP))
	var worst time.Duration
	began := time.Now()
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		r, err := l.Allow(ctx, "k")
		worst = max(worst, time.Since(t0))
		require.NoError(t, err, "call %d", i)
		assert.True(t, r.Allowed, "call %d", i)
	}
	st := l.Stats()
	stalled := time.Since(began)
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGCONT))
	t.Logf("stalled server: worst call %v (timeout %v), %d round trips for 20 calls", worst, timeout, st.RoundTrips-1)
	assert.Less(t, worst, timeout+100*time.Millisecond)
	assert.Equal(t, redislimit.ModeFallback, st.Mode)
	assert.Equal(t, int64(1), st.ToFallback)
	assert.Equal(t, int64(20), st.Fallback, "every call decided by the fallback")
	// The first call timed out, the rest went straight to the fallback; the
	// other round trips are the probe's, one per 50ms.
	assert.LessOrEqual(t, st.RoundTrips-1, int64(1+stalled/(50*time.Millisecond)+1))

	deadline := time.Now().Add(2 * time.Second)
	for l.Mode() != redislimit.ModeRedis && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.Equal(t, redislimit.ModeRedis, l.Mode())
}

func TestClientWithoutContextDeadlines(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { rdb.Close() })
	_, err := redislimit.NewTokenBucket(rdb, 1, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ContextTimeoutEnabled")
	// Timeouts within the limiter's are fine without it.
	rdb2 := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ReadTimeout: 20 * time.Millisecond, WriteTimeout: 20 * time.Millisecond})
	t.Cleanup(func() { rdb2.Close() })
	l, err := redislimit.NewFixedWindow(rdb2, 1, time.Second)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { cc.Close() })
	_, err = redislimit.NewSlidingWindow(cc, 1, time.Second)
	assert.ErrorContains(t, err, "ContextTimeoutEnabled")
}
