package redislimit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/levee-go/levee/limit/redislimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test group 3: Redis Cluster.

func clusterClient(t testing.TB, addrs []string) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// On the shared 3-master cluster: every limiter, keys over every master,
// exact counts, no CROSSSLOT or any other error.
func TestClusterKeysSpread(t *testing.T) {
	cc := clusterClient(t, clusterAddrs(t))
	ctx := context.Background()
	p := prefix(t)
	keys := []string{"", "{", "}", "a}b{", "{user}", "tenant:42", "🙂"}
	for i := 0; i < 40; i++ {
		keys = append(keys, fmt.Sprintf("client-%d", i))
	}
	for _, mk := range limiters(t, cc, p, 5, time.Minute, redislimit.WithTimeout(time.Second)) {
		t.Run(mk.name, func(t *testing.T) {
			for _, k := range keys {
				for i := 0; i < 6; i++ {
					r, err := mk.l.Allow(ctx, k)
					require.NoError(t, err, "key %q call %d", k, i)
					assert.Equal(t, i < 5, r.Allowed, "key %q call %d", k, i)
				}
			}
			st := mk.l.Stats()
			assert.Equal(t, int64(5*len(keys)), st.Allowed)
			assert.Equal(t, int64(len(keys)), st.Denied)
			assert.Zero(t, st.Errors)
			assert.Zero(t, st.Fallback)
		})
	}
	// The keys landed on every master.
	var mu sync.Mutex
	perNode := map[string]int{}
	require.NoError(t, cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		ks, err := node.Keys(ctx, p+"*").Result()
		mu.Lock()
		perNode[node.Options().Addr] = len(ks)
		mu.Unlock()
		return err
	}))
	t.Logf("keys per master: %v (of %d, some already expired)", perNode, 3*len(keys))
	require.Len(t, perNode, 3)
	for addr, n := range perNode {
		assert.Greater(t, n, 10, "master %s", addr)
	}
}

// ownCluster starts a cluster of its own: 3 masters and a replica of the
// first, with a short node timeout so the replica takes over quickly.
func ownCluster(t *testing.T) (masters []*redisServer, replica *redisServer) {
	t.Helper()
	args := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", "500", "--cluster-replica-validity-factor", "0"}
	for i := 0; i < 3; i++ {
		masters = append(masters, startRedis(t, args...))
	}
	replica = startRedis(t, args...)
	ctx := context.Background()
	c := func(s *redisServer) *redis.Client {
		rdb := redis.NewClient(&redis.Options{Addr: s.addr()})
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}
	m0 := c(masters[0])
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, m := range masters {
		require.NoError(t, c(m).ClusterAddSlotsRange(ctx, ranges[i][0], ranges[i][1]).Err())
	}
	for _, s := range append(masters[1:], replica) {
		require.NoError(t, m0.ClusterMeet(ctx, "127.0.0.1", fmt.Sprint(s.port)).Err())
	}
	id, err := m0.Do(ctx, "CLUSTER", "MYID").Text()
	require.NoError(t, err)
	r := c(replica)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err = r.ClusterReplicate(ctx, id).Err()
		if err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "CLUSTER REPLICATE: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range append(masters, replica) {
		rdb := c(s)
		for {
			info, _ := rdb.ClusterInfo(ctx).Result()
			repl, _ := rdb.Info(ctx, "replication").Result()
			if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:4") &&
				(s != replica || strings.Contains(repl, "master_link_status:up")) {
				break
			}
			require.True(t, time.Now().Before(deadline), "cluster not ready: %s %s", info, repl)
			time.Sleep(20 * time.Millisecond)
		}
	}
	return masters, replica
}

// A master dies mid-run and its replica takes over: handled like an
// outage, then every instance is back on Redis, on the promoted replica.
func TestClusterFailover(t *testing.T) {
	needRedisServer(t)
	if testing.Short() {
		t.Skip("starts a cluster of its own")
	}
	t.Parallel() // mostly waits for the cluster to notice the dead master
	masters, replica := ownCluster(t)
	addrs := []string{masters[0].addr(), masters[1].addr(), masters[2].addr()}
	const (
		timeout = 250 * time.Millisecond
		probe   = 100 * time.Millisecond
		nKeys   = 30
	)
	p := prefix(t)
	var fleet []*redislimit.Limiter
	for i := 0; i < 2; i++ {
		l, err := redislimit.NewTokenBucket(clusterClient(t, addrs), 1e5, 1000, redislimit.WithPrefix(p),
			redislimit.WithInstances(2), redislimit.WithTimeout(timeout), redislimit.WithProbeInterval(probe))
		require.NoError(t, err)
		closeLimiter(t, l)
		fleet = append(fleet, l)
	}
	var (
		stop       atomic.Bool
		errs       atomic.Int64
		mu         sync.Mutex
		maxLatency time.Duration
		firstErr   error
		wg         sync.WaitGroup
	)
	for _, l := range fleet {
		wg.Add(1)
		go func(l *redislimit.Limiter) {
			defer wg.Done()
			ctx := context.Background()
			for i := 0; !stop.Load(); i++ {
				t0 := time.Now()
				_, err := l.Allow(ctx, fmt.Sprintf("k%d", i%nKeys))
				d := time.Since(t0)
				mu.Lock()
				maxLatency = max(maxLatency, d)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				if err != nil {
					errs.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}(l)
	}
	time.Sleep(500 * time.Millisecond)
	for _, l := range fleet {
		require.Equal(t, redislimit.ModeRedis, l.Mode())
		require.Zero(t, l.Stats().Fallback)
	}
	masters[0].kill()
	killed := time.Now()

	// Watch the replica take over.
	var promoted atomic.Int64 // ns after the kill
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		rc := redis.NewClient(&redis.Options{Addr: replica.addr()})
		defer rc.Close()
		for time.Since(killed) < 15*time.Second {
			role, _ := rc.Info(context.Background(), "replication").Result()
			ci, _ := rc.ClusterInfo(context.Background()).Result()
			if strings.Contains(role, "role:master") && strings.Contains(ci, "cluster_state:ok") {
				promoted.Store(int64(time.Since(killed)))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	// Wait for the fleet to leave Redis and come back.
	left := false
	var back time.Duration
	for time.Since(killed) < 15*time.Second {
		all := true
		for _, l := range fleet {
			st := l.Stats()
			left = left || st.ToFallback > 0
			all = all && st.Mode == redislimit.ModeRedis && st.ToFallback > 0
		}
		if all {
			back = time.Since(killed)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Run on after the failover, on every slot.
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	<-watchDone

	rc := redis.NewClient(&redis.Options{Addr: replica.addr()})
	defer rc.Close()
	role, err := rc.Info(context.Background(), "replication").Result()
	require.NoError(t, err)
	var st redislimit.Stats
	for _, l := range fleet {
		s := l.Stats()
		st.Allowed += s.Allowed
		st.Fallback += s.Fallback
		st.ToFallback += s.ToFallback
		st.ToRedis += s.ToRedis
		st.Errors += s.Errors
	}
	t.Logf("failover: replica promoted %v after the kill, fleet back on Redis %v after the kill; %d allowed, %d by the fallback, %d switches to the fallback, %d back; max latency %v; first error %v",
		time.Duration(promoted.Load()), back, st.Allowed, st.Fallback, st.ToFallback, st.ToRedis, maxLatency, firstErr)
	assert.True(t, left, "the fleet left Redis during the failover")
	assert.NotZero(t, back, "the fleet is back on Redis after the failover")
	require.NotZero(t, promoted.Load(), "the replica took over")
	// Back soon after the promotion: a probe interval, the slot map's
	// reload and the probe's call (a second's slack on a loaded machine).
	assert.Less(t, back-time.Duration(promoted.Load()), probe+timeout+time.Second)
	assert.Contains(t, role, "role:master", "the replica took over")
	assert.Zero(t, errs.Load(), "every call was decided")
	assert.Less(t, maxLatency, timeout+150*time.Millisecond)
	for i, l := range fleet {
		assert.Equal(t, redislimit.ModeRedis, l.Mode(), "instance %d", i)
	}
}
