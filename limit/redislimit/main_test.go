package redislimit_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// go-redis v9.18 dials in goroutines of its own that finish their retries
// (DialerRetries × DialerRetryTimeout, about half a second) after the call
// that wanted the connection gave up, closed client or not; and after
// PoolSize failed dials one more redials once a second until its pool is
// closed. Both belong to the client and end by themselves; everything of
// ours is checked.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).dialConn"),
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	)
}

// redisAddr is the address of the throwaway server `make test` starts
// (scripts/with-redis.sh). Without one the test skips loudly, except under
// CI=true, where a missing server is a failure.
func redisAddr(t testing.TB) string {
	t.Helper()
	return env(t, "LEVEE_REDIS_ADDR")
}

// clusterAddrs are the masters of the throwaway 3-master cluster of
// scripts/with-redis.sh.
func clusterAddrs(t testing.TB) []string {
	t.Helper()
	return strings.Split(env(t, "LEVEE_REDIS_CLUSTER_ADDRS"), ",")
}

func env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set under CI=true: run the tests under scripts/with-redis.sh (make test does)", name)
		}
		t.Skipf("SKIPPING: %s is not set; run the tests under scripts/with-redis.sh (make test does) to include this test", name)
	}
	return v
}

// redisServer is a redis-server process a test starts, kills and restarts
// itself, never the shared ones.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has ended
}

// needRedisServer skips (or fails under CI=true) without a redis-server.
func needRedisServer(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found under CI=true")
		}
		t.Skip("SKIPPING: redis-server not found on PATH")
	}
}

// startRedis starts a redis-server on a free loopback port (its cluster bus
// port free too) and waits until it answers.
func startRedis(t testing.TB, args ...string) *redisServer {
	t.Helper()
	needRedisServer(t)
	for attempt := 0; attempt < 20; attempt++ {
		port := freePort(t)
		s := &redisServer{t: t, port: port, dir: t.TempDir(), args: args}
		if s.start() {
			t.Cleanup(s.kill)
			return s
		}
	}
	t.Fatal("could not start redis-server")
	return nil
}

var ports struct {
	sync.Mutex
	seq   int
	taken map[int]bool // handed out in this process, bus ports included
}

// freePort picks a port for a server of a test's own, with its cluster bus
// port (port+10000) free too. Both stay below Linux's ephemeral range
// (32768 and up), where an outgoing connection of any test on the machine
// could hold a port while a killed server waits to start again on it; and
// no port is handed out twice in a process, so servers of parallel tests
// never meet on one, even while one of them is down.
func freePort(t testing.TB) int {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	if ports.taken == nil {
		ports.taken = map[int]bool{}
	}
	for i := 0; i < 12000; i++ {
		ports.seq++
		p := 10000 + (os.Getpid()*7+ports.seq*131)%12000
		if ports.taken[p] || ports.taken[p+10000] || !free(p) || !free(p+10000) {
			continue
		}
		ports.taken[p], ports.taken[p+10000] = true, true
		return p
	}
	t.Fatal("no free port pair below 32768")
	return 0
}

func free(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func (s *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *redisServer) start() bool {
	args := append([]string{"--bind", "127.0.0.1", "--port", fmt.Sprint(s.port), "--save", "",
		"--appendonly", "no", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log")}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	rdb := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	for i := 0; i < 150; i++ {
		select {
		case <-s.done:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	return false
}

// kill sends SIGKILL and waits for the process to end.
func (s *redisServer) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// restart starts the server again on the same port and directory.
func (s *redisServer) restart() {
	s.t.Helper()
	for i := 0; i < 20; i++ {
		if s.start() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("could not restart redis-server on %s", s.addr())
}
