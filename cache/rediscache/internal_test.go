package rediscache

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJittered(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		f, r   float64
		lo, hi time.Duration
	}{
		{time.Second, 0, 0.3, time.Second, time.Second},
		{time.Second, 0.05, 0, 950 * time.Millisecond, 950 * time.Millisecond},
		{time.Second, 0.05, 0.5, time.Second, time.Second},
		{time.Second, 0.05, math.Nextafter(1, 0), 1049 * time.Millisecond, 1050 * time.Millisecond},
		{MinTTL, 0.5, 0, MinTTL, MinTTL}, // never below MinTTL
		{MaxTTL, 0.5, math.Nextafter(1, 0), MaxTTL, MaxTTL + MaxTTL/2},
	} {
		got := jittered(tc.d, tc.f, tc.r)
		assert.GreaterOrEqual(t, got, tc.lo, "jittered(%v, %v, %v)", tc.d, tc.f, tc.r)
		assert.LessOrEqual(t, got, tc.hi, "jittered(%v, %v, %v)", tc.d, tc.f, tc.r)
	}
}

type item struct {
	A int    `json:"a"`
	B string `json:"b"`
}

func TestJSONCodec(t *testing.T) {
	var c JSON[item]
	b, err := c.Append([]byte("head"), item{A: 1, B: "<x>"})
	require.NoError(t, err)
	assert.Equal(t, `head{"a":1,"b":"\u003cx\u003e"}`, string(b))
	v, err := c.Decode(b[4:])
	require.NoError(t, err)
	assert.Equal(t, item{A: 1, B: "<x>"}, v)
	_, err = c.Decode([]byte("{"))
	assert.Error(t, err)

	// A value that cannot be encoded leaves dst as it was.
	var f JSON[float64]
	b, err = f.Append([]byte("head"), math.Inf(1))
	assert.Error(t, err)
	assert.Equal(t, "head", string(b))

	// A huge value is encoded, and its buffer is not kept for reuse.
	big := strings.Repeat("x", 2*maxPooledBuffer)
	var s JSON[string]
	b, err = s.Append(nil, big)
	require.NoError(t, err)
	assert.Len(t, b, len(big)+2)

	if !raceEnabled {
		// One: boxing the value for encoding/json.
		allocs := testing.AllocsPerRun(100, func() { b, _ = c.Append(b[:0], item{A: 1, B: "x"}) })
		assert.LessOrEqual(t, allocs, 1.0, "allocations of a warm Append")
	}
}

func TestRecordLayout(t *testing.T) {
	c := &Cache[item]{codec: JSON[item]{}}
	b, err := c.record(nil, item{A: 7}, 1000, 500)
	require.NoError(t, err)
	assert.Equal(t, byte(tagValue), b[0])
	v, kind, exp, err := c.decode(string(b), 1499)
	require.NoError(t, err)
	assert.Equal(t, readFresh, kind)
	assert.Equal(t, int64(1500), exp)
	assert.Equal(t, 7, v.A)
	_, kind, _, err = c.decode(string(b), 1500)
	require.NoError(t, err)
	assert.Equal(t, readStale, kind)
	_, kind, _, err = c.decode(placeholder, 0)
	require.NoError(t, err)
	assert.Equal(t, readNotFound, kind)
	for _, bad := range []string{"x", "\x01short", "\x02" + string(b[1:]), string(b[:headerLen]) + "{"} {
		_, kind, _, err = c.decode(bad, 0)
		assert.Error(t, err, "%q", bad)
		assert.Equal(t, readMiss, kind)
	}
}

// FuzzDecode: no bytes in Redis make decode panic, and a record decode
// accepts is one record would have written (or the placeholder).
func FuzzDecode(f *testing.F) {
	c := &Cache[item]{codec: JSON[item]{}}
	good, _ := c.record(nil, item{A: 1, B: "b"}, 1000, 500)
	for _, s := range []string{"", placeholder, "garbage", string(good), string(good[:headerLen]), "\x01\x00\x00\x00\x00\x00\x00\x00\x00null"} {
		f.Add(s, int64(1200))
	}
	f.Fuzz(func(t *testing.T, s string, now int64) {
		v, kind, exp, err := c.decode(s, now)
		switch {
		case err != nil:
			if kind != readMiss {
				t.Fatalf("decode(%q) = kind %d with error %v", s, kind, err)
			}
		case kind == readNotFound:
			if s != placeholder {
				t.Fatalf("decode(%q) = not found", s)
			}
		case kind == readFresh || kind == readStale:
			if (kind == readFresh) != (now < exp) {
				t.Fatalf("decode(%q, %d): kind %d, expiry %d", s, now, kind, exp)
			}
			again, err := c.record(nil, v, exp, 0)
			if err != nil {
				t.Fatalf("record(%+v): %v", v, err)
			}
			if w, k, e, err := c.decode(string(again), now); err != nil || k != kind || e != exp || w != v {
				t.Fatalf("round trip of %q: %+v %d %d %v", s, w, k, e, err)
			}
		default:
			t.Fatalf("decode(%q) = kind %d, no error", s, kind)
		}
	})
}
