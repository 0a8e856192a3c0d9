package redislimit

import (
	"testing"

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
