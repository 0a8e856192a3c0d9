package redislimit

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want reply
		ok   bool
	}{
		{"1 4 0 100000 1", reply{allowed: true, remaining: 4, reset: 100000, taken: 1}, true},
		{"0 0 50000 500000 0", reply{remaining: 0, retry: 50000, reset: 500000}, true},
		{"0 0 -1 5 0", reply{retry: -1, reset: 5}, true},
		{"", reply{}, false},
		{"1 2 3 4", reply{}, false},
		{"1 2 3 4 5 6", reply{}, false},
		{"2 0 0 0 0", reply{}, false},
		{"1  2 3 4 5", reply{}, false},
		{"1 2 3 4 5 ", reply{}, false},
		{"1 - 3 4 5", reply{}, false},
		{"1 99999999999999999999 0 0 1", reply{}, false},
		{"1 2.5 0 0 1", reply{}, false},
	} {
		got, ok := parseReply(tc.in)
		assert.Equal(t, tc.ok, ok, "parseReply(%q)", tc.in)
		if ok {
			assert.Equal(t, tc.want, got, "parseReply(%q)", tc.in)
		}
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = parseReply("1 4 0 100000 1") }))
}

func FuzzParseReply(f *testing.F) {
	f.Add("1 4 0 100000 1")
	f.Add("0 0 -1 5 0")
	f.Add("-")
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := parseReply(s)
		if ok && (r.taken < -1<<62 || r.remaining > 1<<62) {
			t.Fatalf("parseReply(%q) = %+v out of range", s, r)
		}
	})
}

func TestScriptsHaveDistinctSHAs(t *testing.T) {
	assert.Len(t, tokenLua.sha, 40)
	assert.NotEqual(t, tokenLua.sha, fixedLua.sha)
	assert.NotEqual(t, fixedLua.sha, slidingLua.sha)
}

func TestSharedDeadlines(t *testing.T) {
	l := &Limiter{}
	now := time.Now()
	bg := context.Background()

	ctx, cancel := l.withTimeout(bg, 30*time.Millisecond)
	defer cancel()
	dl, ok := ctx.Deadline()
	assert.True(t, ok)
	assert.GreaterOrEqual(t, dl.Sub(now), 30*time.Millisecond)
	assert.LessOrEqual(t, dl.Sub(now), 40*time.Millisecond)
	assert.NoError(t, ctx.Err())
	// Calls in the same millisecond share one deadline: a hundred calls in
	// a row make a handful.
	chans := map[<-chan struct{}]bool{}
	for i := 0; i < 100; i++ {
		c, _ := l.withTimeout(bg, 30*time.Millisecond)
		chans[c.Done()] = true
	}
	assert.LessOrEqual(t, len(chans), 10)
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("shared deadline never passed")
	}
	assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
	// A passed deadline is not handed out again.
	ctx3, _ := l.withTimeout(bg, 30*time.Millisecond)
	assert.NoError(t, ctx3.Err())
	assert.NotEqual(t, ctx.Done(), ctx3.Done())

	// Values come from the parent.
	type k struct{}
	ctx4, _ := l.withTimeout(context.WithValue(bg, k{}, 42), time.Second)
	assert.Equal(t, 42, ctx4.Value(k{}))

	// A cancellable parent keeps its cancellation.
	parent, stop := context.WithCancel(bg)
	ctx5, cancel5 := l.withTimeout(parent, time.Hour)
	defer cancel5()
	stop()
	<-ctx5.Done()
	assert.ErrorIs(t, ctx5.Err(), context.Canceled)

	// An earlier deadline of the caller's is kept as is.
	early, cancel6 := context.WithTimeout(bg, time.Millisecond)
	defer cancel6()
	ctx6, _ := l.withTimeout(early, time.Hour)
	assert.Equal(t, early, ctx6)
}
