package rediscache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/levee-go/levee/cache/rediscache"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ownServer is a redis-server of the test's own, which it may kill.
type ownServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startOwnServer(t *testing.T, port int) *ownServer {
	t.Helper()
	redisAddr(t) // the same skip-or-fail rule as the shared server
	path, err := exec.LookPath("redis-server")
	require.NoError(t, err, "redis-server")
	if port == 0 {
		port = freeLowPort(t)
	}
	s := &ownServer{t: t, port: port, dir: t.TempDir()}
	s.cmd = exec.Command(path, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	require.NoError(t, s.cmd.Start())
	t.Cleanup(s.kill)
	rdb := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(5 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		require.True(t, time.Now().Before(deadline), "redis-server on port %d did not answer in 5s", port)
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// freeLowPort picks a free port below Linux's ephemeral range (32768 and
// up): a killed server starts again on its port, and in the meantime an
// outgoing connection of any process on the machine could take a port of
// that range.
func freeLowPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 1000; i++ {
		port := 10000 + rand.IntN(22000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			require.NoError(t, l.Close())
			return port
		}
	}
	t.Fatal("no free port below 32768")
	return 0
}

func (s *ownServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// kill SIGKILLs the server and reaps it.
func (s *ownServer) kill() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// Test 5, fault: Redis is SIGKILLed while calls run. Every call returns
// within its timeout, with the error (FailFast) or the loaded value
// (LoadOnError); once Redis is back, so is caching.
func TestFault(t *testing.T) {
	srv := startOwnServer(t, 0)
	const timeout = 200 * time.Millisecond
	newCache := func(policy rediscache.RedisErrorPolicy, events *[]rediscache.EventKind, mu *sync.Mutex) (*rediscache.Cache[user], *redis.Client) {
		rdb := redis.NewClient(&redis.Options{
			Addr: srv.addr(), MaxRetries: 1, ContextTimeoutEnabled: true,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
		})
		t.Cleanup(func() { _ = rdb.Close() })
		c, err := rediscache.New[user](rdb, rediscache.WithRedisErrorPolicy(policy), rediscache.WithTTL(time.Minute),
			rediscache.WithEventHook(func(e rediscache.Event) {
				mu.Lock()
				*events = append(*events, e.Kind)
				mu.Unlock()
			}))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c, rdb
	}
	var mu sync.Mutex
	var failEvents, loadEvents []rediscache.EventKind
	failFast, _ := newCache(rediscache.FailFast, &failEvents, &mu)
	loadOn, _ := newCache(rediscache.LoadOnError, &loadEvents, &mu)
	loader := &countingLoader{delay: 5 * time.Millisecond}

	type tally struct {
		ok, unavailable, deadline, other atomic.Int64
		slowest                          atomic.Int64 // ns
	}
	// phase runs 8 workers per cache for d, each Take bounded by timeout.
	phase := func(d time.Duration) (ff, lo *tally) {
		ff, lo = new(tally), new(tally)
		end := time.Now().Add(d)
		together(16, func(i int) {
			c, tl := failFast, ff
			if i%2 == 1 {
				c, tl = loadOn, lo
			}
			for n := 0; time.Now().Before(end); n++ {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				begun := time.Now()
				v, err := c.Take(ctx, fmt.Sprintf("k%d", (i*7+n)%20), loader.load)
				took := time.Since(begun)
				cancel()
				for {
					old := tl.slowest.Load()
					if int64(took) <= old || tl.slowest.CompareAndSwap(old, int64(took)) {
						break
					}
				}
				switch {
				case err == nil && v.ID != "":
					tl.ok.Add(1)
				case errors.Is(err, rediscache.ErrUnavailable):
					tl.unavailable.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					// Only calls that were waiting for Redis when it died.
					tl.deadline.Add(1)
				default:
					tl.other.Add(1)
					t.Errorf("Take: %v", err)
				}
				time.Sleep(time.Millisecond)
			}
		})
		return ff, lo
	}

	ff, lo := phase(200 * time.Millisecond)
	assert.Greater(t, ff.ok.Load(), int64(0))
	assert.Equal(t, int64(0), ff.unavailable.Load()+lo.unavailable.Load())

	killed := time.Now()
	srv.kill()
	ff, lo = phase(500 * time.Millisecond)
	t.Logf("Redis down: FailFast %d errors, %d deadlines, %d ok, slowest %v; LoadOnError %d ok, %d errors, %d deadlines, slowest %v; loader calls so far %d",
		ff.unavailable.Load(), ff.deadline.Load(), ff.ok.Load(), time.Duration(ff.slowest.Load()), lo.ok.Load(), lo.unavailable.Load(), lo.deadline.Load(),
		time.Duration(lo.slowest.Load()), loader.calls.Load())
	// Calls that were waiting for Redis when it died may run out of time;
	// at most one per worker, then the outage is known and calls fail fast
	// or load at once.
	assert.LessOrEqual(t, ff.deadline.Load(), int64(8))
	assert.LessOrEqual(t, lo.deadline.Load(), int64(8))
	assert.Greater(t, ff.unavailable.Load(), int64(10))
	assert.Equal(t, int64(0), ff.ok.Load())
	assert.Greater(t, lo.ok.Load(), int64(10))
	assert.Equal(t, int64(0), lo.unavailable.Load()+lo.other.Load()+ff.other.Load())
	// The slack is the scheduler's on a loaded machine, not the cache's.
	assert.Less(t, time.Duration(ff.slowest.Load()), timeout+100*time.Millisecond)
	assert.Less(t, time.Duration(lo.slowest.Load()), timeout+100*time.Millisecond)
	assert.True(t, failFast.Stats().RedisDown)
	assert.True(t, loadOn.Stats().RedisDown)

	// Restart on the same port: both caches come back without help.
	restarted := time.Now()
	srv = startOwnServer(t, srv.port)
	loadsBefore := loader.calls.Load()
	var back time.Duration
	for {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_, err1 := failFast.Take(ctx, "after", loader.load)
		_, err2 := loadOn.Take(ctx, "after", loader.load)
		cancel()
		if err1 == nil && err2 == nil && !failFast.Stats().RedisDown && !loadOn.Stats().RedisDown {
			back = time.Since(restarted)
			break
		}
		require.Less(t, time.Since(restarted), 5*time.Second, "not back 5s after the restart: %v, %v", err1, err2)
		time.Sleep(10 * time.Millisecond)
	}
	ff, lo = phase(200 * time.Millisecond)
	t.Logf("killed for %v; back %v after the restart; after it: %d and %d ok, loader calls %d",
		restarted.Sub(killed).Round(time.Millisecond), back.Round(time.Millisecond), ff.ok.Load(), lo.ok.Load(), loader.calls.Load()-loadsBefore)
	assert.Less(t, back, 3*time.Second)
	assert.Equal(t, int64(0), ff.unavailable.Load()+lo.unavailable.Load()+ff.deadline.Load()+lo.deadline.Load())
	assert.Greater(t, ff.ok.Load()+lo.ok.Load(), int64(20))
	// 20 keys plus "after", each loaded at most once per cache once Redis is back.
	assert.LessOrEqual(t, loader.calls.Load()-loadsBefore, int64(2*21))

	t.Logf("FailFast %+v", failFast.Stats())
	t.Logf("LoadOnError %+v", loadOn.Stats())
	mu.Lock()
	defer mu.Unlock()
	for name, ev := range map[string][]rediscache.EventKind{"FailFast": failEvents, "LoadOnError": loadEvents} {
		assert.Equal(t, []rediscache.EventKind{rediscache.EventRedisDown, rediscache.EventRedisUp}, ev, name)
	}
}
