package redislimit_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/levee-go/levee/limit/redislimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test group 4: bad data. Errors, never panics, never a silent reset.

func TestWrongTypeAndCorruptState(t *testing.T) {
	rdb := client(t)
	ctx := context.Background()
	p := prefix(t)
	for _, mk := range limiters(t, rdb, p, 5, time.Minute) {
		t.Run(mk.name, func(t *testing.T) {
			kp := map[string]string{"token": "tb:", "fixed": "fw:", "sliding": "sw:"}[mk.name]
			list := p + kp + "{list}"
			require.NoError(t, rdb.RPush(ctx, list, "x").Err())
			_, err := mk.l.Allow(ctx, "list")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "WRONGTYPE")

			bad := p + kp + "{bad}"
			require.NoError(t, rdb.Set(ctx, bad, "not a number", time.Minute).Err())
			_, err = mk.l.Allow(ctx, "bad")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "corrupt limiter state")
			// The data is left as it was, for a human to look at.
			typ, err := rdb.Type(ctx, bad).Result()
			require.NoError(t, err)
			assert.Equal(t, "string", typ)
			v, err := rdb.Get(ctx, bad).Result()
			require.NoError(t, err)
			assert.Equal(t, "not a number", v)

			// Neither is an outage: the limiter stays on Redis and other keys work.
			st := mk.l.Stats()
			assert.Equal(t, redislimit.ModeRedis, st.Mode)
			assert.Equal(t, int64(2), st.Errors)
			assert.Zero(t, st.Fallback)
			r, err := mk.l.Allow(ctx, "good")
			require.NoError(t, err)
			assert.True(t, r.Allowed)
		})
	}
}

// State written ahead of the server's clock (a failover to a replica whose
// clock is behind) is kept: the limiter never hands the same tokens out
// twice.
func TestStateNeverMovesBackwards(t *testing.T) {
	rdb := client(t)
	ctx := context.Background()
	p := prefix(t)
	l, err := redislimit.NewTokenBucket(rdb, 10, 5, redislimit.WithPrefix(p), slowMachine)
	require.NoError(t, err)
	closeLimiter(t, l)
	tm, err := rdb.Time(ctx).Result()
	require.NoError(t, err)
	future := tm.Add(10 * time.Second).UnixMicro()
	require.NoError(t, rdb.Set(ctx, p+"{k}", future, time.Minute).Err())
	r, err := l.Allow(ctx, "k")
	require.NoError(t, err)
	assert.False(t, r.Allowed)
	assert.InDelta(t, float64(10*time.Second-500*time.Millisecond+100*time.Millisecond), float64(r.RetryAfter), float64(50*time.Millisecond))
	got, err := rdb.Get(ctx, p+"{k}").Int64()
	require.NoError(t, err)
	assert.Equal(t, future, got)

	fw, err := redislimit.NewFixedWindow(rdb, 5, time.Second, redislimit.WithPrefix(p+"fw:"), slowMachine)
	require.NoError(t, err)
	closeLimiter(t, fw)
	win := tm.UnixMicro()/1e6 + 5 // a window five seconds ahead, full
	require.NoError(t, rdb.Set(ctx, p+"fw:{k}", fmt.Sprintf("%d 5", win), time.Minute).Err())
	r, err = fw.Allow(ctx, "k")
	require.NoError(t, err)
	assert.False(t, r.Allowed)
	assert.Greater(t, r.RetryAfter, 5*time.Second)
	v, err := rdb.Get(ctx, p+"fw:{k}").Result()
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("%d 5", win), v)
}

// Keys always carry a TTL, even when the bucket refills in a microsecond
// (go-zero computes a 0 TTL there and fails for good).
func TestTTLNeverZero(t *testing.T) {
	rdb := client(t)
	ctx := context.Background()
	p := prefix(t)
	l, err := redislimit.NewTokenBucket(rdb, 1e6, 1, redislimit.WithPrefix(p), slowMachine)
	require.NoError(t, err)
	closeLimiter(t, l)
	fw, err := redislimit.NewFixedWindow(rdb, 1000, time.Millisecond, redislimit.WithPrefix(p+"fw:"), slowMachine)
	require.NoError(t, err)
	closeLimiter(t, fw)
	for i := 0; i < 200; i++ {
		_, err := l.Allow(ctx, "k")
		require.NoError(t, err, "call %d", i)
		_, err = fw.Allow(ctx, "k")
		require.NoError(t, err, "call %d", i)
	}
	assert.Zero(t, l.Stats().Errors+fw.Stats().Errors)
	// A slow bucket's key lives until the bucket is full again.
	slow, err := redislimit.NewTokenBucket(rdb, 0.01, 3, redislimit.WithPrefix(p+"slow:"), slowMachine)
	require.NoError(t, err)
	closeLimiter(t, slow)
	_, err = slow.AllowN(ctx, "k", 2)
	require.NoError(t, err)
	pttl, err := rdb.PTTL(ctx, p+"slow:{k}").Result()
	require.NoError(t, err)
	assert.InDelta(t, float64(200*time.Second), float64(pttl), float64(time.Second))
}

// SCRIPT FLUSH mid-run costs one reload, then EVALSHA again.
func TestScriptFlushedMidRun(t *testing.T) {
	rdb := client(t)
	ctx := context.Background()
	for _, mk := range limiters(t, rdb, prefix(t), 1000, time.Minute) {
		t.Run(mk.name, func(t *testing.T) {
			_, err := mk.l.Allow(ctx, "k") // loads the script if needed
			require.NoError(t, err)
			before := mk.l.Stats().RoundTrips
			for i := 0; i < 100; i++ {
				if i == 50 {
					require.NoError(t, rdb.ScriptFlush(ctx).Err())
				}
				r, err := mk.l.Allow(ctx, "k")
				require.NoError(t, err, "call %d", i)
				require.True(t, r.Allowed, "call %d", i)
			}
			st := mk.l.Stats()
			assert.Equal(t, int64(101), st.RoundTrips-before, "100 calls and one reload")
			assert.Zero(t, st.Errors)
			assert.Equal(t, redislimit.ModeRedis, st.Mode)
		})
	}
}

// fakeRedis answers every command with reply; HELLO gets an error, as from
// a RESP2-only server, so the client goes on with RESP2.
func fakeRedis(t *testing.T, reply func(cmd string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				rd := bufio.NewReader(c)
				for {
					cmd, err := readCommand(rd)
					if err != nil {
						return
					}
					out := "-ERR unknown command\r\n"
					if cmd != "HELLO" {
						out = reply(cmd)
					}
					if out == "" { // hang up
						return
					}
					if _, err := c.Write([]byte(out)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readCommand reads one RESP array of bulk strings and returns its first
// element, upper-cased.
func readCommand(rd *bufio.Reader) (string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(line, "*") {
		return "", errors.New("not an array")
	}
	var n int
	for _, ch := range strings.TrimSpace(line[1:]) {
		n = n*10 + int(ch-'0')
	}
	var first string
	for i := 0; i < n; i++ {
		if _, err := rd.ReadString('\n'); err != nil { // $len
			return "", err
		}
		arg, err := rd.ReadString('\n')
		if err != nil {
			return "", err
		}
		if i == 0 {
			first = strings.ToUpper(strings.TrimSpace(arg))
		}
	}
	return first, nil
}

func TestGarbageServer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name    string
		reply   string
		badData bool // an error to the caller; otherwise an outage (the fallback decides)
	}{
		{"status", "+garbage\r\n", true},
		{"short status", "+1 2 3\r\n", true},
		{"overflow", "+1 99999999999999999999 0 0 1\r\n", true},
		{"took more than asked", "+1 5 0 1000 999\r\n", true},
		{"integer", ":42\r\n", true},
		// go-redis refuses an array in reply to its connection handshake
		// (CLIENT SETINFO): the server is unusable, as good as down.
		{"array", "*2\r\n:1\r\n:2\r\n", false},
		{"nil", "$-1\r\n", true},
		{"error reply", "-ERR something odd\r\n", true},
		{"not RESP", "\x00\xff\xfe garbage\r\n", false},
		{"truncated", "$100\r\nabc", false},
		{"hang up", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeRedis(t, func(string) string { return tc.reply })
			rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
			t.Cleanup(func() { rdb.Close() })
			l, err := redislimit.NewTokenBucket(rdb, 10, 5, redislimit.WithTimeout(timeout),
				redislimit.WithProbeInterval(time.Hour), redislimit.WithLease(4))
			require.NoError(t, err)
			closeLimiter(t, l)
			for i := 0; i < 3; i++ {
				t0 := time.Now()
				r, err := l.Allow(context.Background(), "k")
				assert.Less(t, time.Since(t0), timeout+100*time.Millisecond)
				if tc.badData {
					require.Error(t, err, "call %d: %+v", i, r)
					assert.False(t, r.Allowed)
				} else {
					require.NoError(t, err, "call %d", i)
				}
			}
			st := l.Stats()
			t.Logf("%+v", st)
			if tc.badData {
				assert.Equal(t, redislimit.ModeRedis, st.Mode)
				assert.Equal(t, int64(3), st.Errors)
			} else {
				assert.Equal(t, redislimit.ModeFallback, st.Mode)
				assert.Equal(t, int64(3), st.Fallback)
				assert.Equal(t, int64(3), st.Allowed)
			}
		})
	}
}
