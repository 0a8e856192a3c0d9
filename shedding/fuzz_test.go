package shedding

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The parsers' contract under fuzzing: garbage is an error, never a panic,
// and a reading they accept is a plausible one, never a 0 made up from a
// file that did not say so.

// seeds adds every fixture file named base, plus a few hand-made inputs.
func seeds(f *testing.F, base string, extra ...string) {
	f.Helper()
	_ = filepath.WalkDir("testdata", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == base {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
		return nil
	})
	for _, s := range append(extra, "", "\n", "0", "-1", "max", " ", "\x00") {
		f.Add([]byte(s))
	}
}

func FuzzParseProcCgroup(f *testing.F) {
	seeds(f, "cgroup", "0::/a", "1:cpu,cpuacct:/x\n0::/", "::", "a:b:c")
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := parseProcCgroup(data)
		if err != nil {
			return
		}
		if len(es) == 0 {
			t.Fatal("no entries and no error")
		}
		for _, e := range es {
			if !strings.HasPrefix(e.path, "/") || e.id < 0 {
				t.Fatalf("accepted entry %+v", e)
			}
		}
	})
}

func FuzzParseMountinfo(f *testing.F) {
	seeds(f, "mountinfo", `36 35 98:0 /mnt1 /mnt\0402 rw - ext3 /dev/root rw`, "1 2 3 4 5 6 - a b c")
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := parseMountinfo(data)
		if err != nil {
			return
		}
		if len(ms) == 0 {
			t.Fatal("no mounts and no error")
		}
		for _, m := range ms {
			if !strings.HasPrefix(m.root, "/") || !strings.HasPrefix(m.point, "/") || m.fstype == "" {
				t.Fatalf("accepted mount %+v", m)
			}
		}
	})
}

func FuzzParseCPUMax(f *testing.F) {
	seeds(f, "cpu.max", "max", "100000 100000", "0 100000", "5 0", "-5 10")
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := parseCPUMax(data)
		if err == nil && !(q > 0) {
			t.Fatalf("parseCPUMax(%q) = %v without error", data, q)
		}
		if err == nil && math.IsInf(q, 1) && !strings.Contains(string(data), "max") {
			t.Fatalf("parseCPUMax(%q) = unlimited", data)
		}
	})
}

func FuzzParseCPUStat(f *testing.F) {
	seeds(f, "cpu.stat", "usage_usec 0", "usage_usec -1", "usage_usec")
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseCPUStat(data)
		if err != nil {
			return
		}
		if n < 0 || !strings.Contains(string(data), "usage_usec ") {
			t.Fatalf("parseCPUStat(%q) = %d without error", data, n)
		}
	})
}

func FuzzParseInt(f *testing.F) {
	seeds(f, "cpuacct.usage", "100000", "-1", "1e9", "0x10", "9223372036854775808")
	seeds(f, "cpu.cfs_quota_us")
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseInt(data)
		if err != nil {
			return
		}
		if n == 0 && strings.Trim(strings.TrimSpace(string(data)), "+-0") != "" {
			t.Fatalf("parseInt(%q) = 0 without error", data)
		}
	})
}

func FuzzParseCPUList(f *testing.F) {
	seeds(f, "cpuset.cpus", "0-3,8,10-11", "3-1", "0-4000000000", ",", "1,,2")
	seeds(f, "cpuset.cpus.effective")
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseCPUList(data)
		if err == nil && (n < 1 || n > maxCPUs) {
			t.Fatalf("parseCPUList(%q) = %d without error", data, n)
		}
	})
}

func FuzzParsePSI(f *testing.F) {
	seeds(f, "cpu.pressure", "some total=", "some total=-1", "full total=5")
	seeds(f, "cpu")
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parsePSI(data)
		if err == nil && (n < 0 || !strings.Contains(string(data), "total=")) {
			t.Fatalf("parsePSI(%q) = %d without error", data, n)
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	seeds(f, "stat", "cpu 0 0 0 0", "cpu 1 2 3", "cpu 18446744073709551615 1 1 1")
	f.Fuzz(func(t *testing.T, data []byte) {
		busy, total, err := parseProcStat(data)
		if err == nil && (total == 0 || busy > total) {
			t.Fatalf("parseProcStat(%q) = %d, %d without error", data, busy, total)
		}
	})
}

// FuzzNew: any combination of numeric options either builds a shedder that
// admits and sheds without panicking, or is refused with an error.
func FuzzNew(f *testing.F) {
	f.Add(int64(5e9), 50, int64(900), int64(1e9), 0.9, int64(1e9), 0.25, 4, int64(500))
	f.Add(int64(1), 1, int64(1), int64(0), 0.0, int64(1), 1.0, 1, int64(-1))
	f.Add(int64(-1), -1, int64(0), int64(-1), math.NaN(), int64(0), math.Inf(1), 0, int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, window int64, buckets int, threshold, coolOff int64, beta float64, coldRT int64, headroom float64, minFlight int, load int64) {
		s, err := New(WithShedWindow(time.Duration(window)), WithBuckets(buckets), WithThreshold(threshold),
			WithCoolOff(time.Duration(coolOff)), WithFlyingSmoothing(beta), WithColdRT(time.Duration(coldRT)),
			WithPriorityHeadroom(headroom), WithMinInFlight(minFlight),
			WithLoadSource(LoadFunc(func() int64 { return load })))
		if err != nil {
			if s != nil || !strings.HasPrefix(err.Error(), "shedding: ") {
				t.Fatalf("New = %v, %v", s, err)
			}
			return
		}
		defer s.Close()
		var toks []Token
		for i := range 64 {
			if tok, err := s.Allow(Priority(i%3 - 1)); err == nil {
				toks = append(toks, tok)
			}
		}
		for _, tok := range toks {
			tok.Pass()
		}
		if st := s.Stats(); st.InFlight != 0 || st.Bound < 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}
