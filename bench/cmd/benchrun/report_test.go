package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/levee-go/levee/bench/collection
cpu: Test CPU @ 2.00GHz
BenchmarkRollingWindowAdd/parallel/levee     	100	        10.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRollingWindowAdd/parallel/levee     	100	        30.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRollingWindowAdd/parallel/levee     	100	        20.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRollingWindowAdd/parallel/levee-2   	100	        8.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRollingWindowAdd/parallel/gozero    	100	        80.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkRollingWindowAdd/parallel/gozero-2  	100	        40.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkRollingWindowAdd/parallel/other     	100	        50.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkMapReduce/levee-2                   	10	      1000 ns/op	     120.5 ns/item	  0 B/op	  0 allocs/op
BenchmarkMapReduce/levee-2  garbage line
PASS
`

func TestParse(t *testing.T) {
	rs, env := parse(strings.NewReader(sample))
	if len(rs) != 8 {
		t.Fatalf("parse: got %d results, want 8", len(rs))
	}
	if env.cpu != "Test CPU @ 2.00GHz" || env.goos != "linux" || env.goarch != "amd64" {
		t.Errorf("parse: environment = %+v", env)
	}
	last := rs[7]
	if last.name != "BenchmarkMapReduce/levee" || last.procs != 2 || last.values["ns/item"] != 120.5 {
		t.Errorf("parse: last = %+v", last)
	}
}

func TestAggregate(t *testing.T) {
	rs, _ := parse(strings.NewReader(sample))
	comps := aggregate(rs)
	if len(comps) != 3 {
		t.Fatalf("aggregate: %d comparisons, want 3", len(comps))
	}
	// Sorted by top-level name, case, then procs.
	mr, add1, add2 := comps[0], comps[1], comps[2]
	if mr.top != "BenchmarkMapReduce" || add1.procs != 1 || add2.procs != 2 {
		t.Fatalf("aggregate order: %s/%d %s/%d %s/%d", mr.top, mr.procs, add1.top, add1.procs, add2.top, add2.procs)
	}
	l, ok := add1.levee()
	if !ok || l.medians["ns/op"] != 20 || l.n != 3 {
		t.Errorf("levee median = %v over %d runs, want 20 over 3", l.medians["ns/op"], l.n)
	}
	if r, peer := add1.ratio(); peer != "other" || math.Abs(r-0.4) > 1e-9 {
		t.Errorf("cpu 1 ratio = %v vs %q, want 0.4 vs other", r, peer)
	}
	if r, peer := add2.ratio(); peer != "gozero" || math.Abs(r-0.2) > 1e-9 {
		t.Errorf("cpu 2 ratio = %v vs %q, want 0.2 vs gozero", r, peer)
	}
	if r, _ := mr.ratio(); !math.IsNaN(r) {
		t.Errorf("ratio without peers = %v, want NaN", r)
	}
	if add1.rows[0].impl != levee || add1.rows[1].impl != "other" {
		t.Errorf("rows not levee first then fastest peer: %v, %v", add1.rows[0].impl, add1.rows[1].impl)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestWriteReport(t *testing.T) {
	rs, env := parse(strings.NewReader(sample))
	var buf bytes.Buffer
	writeReport(&buf, rs, env, reportParams{count: 3, cpu: "1,2", benchtime: "1s", goVersion: "go1.x", date: "2026-01-01"})
	out := buf.String()
	for _, want := range []string{
		"| BenchmarkRollingWindowAdd/parallel | 2 | 8.00 | 0 | gozero | 40.0 | 1.00 | **0.20×** |",
		"## BenchmarkMapReduce",
		"| ns/op | ns/item | B/op | allocs/op |",
		"cpu: Test CPU", // not printed as is; see below
	} {
		if want == "cpu: Test CPU" {
			want = "Test CPU @ 2.00GHz, linux/amd64"
		}
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestMergeRaw(t *testing.T) {
	old := `goos: linux
pkg: x
BenchmarkA/c/levee     	100	        10.0 ns/op
BenchmarkA/c/levee-2   	100	        8.0 ns/op
BenchmarkA/c/peer      	100	        20.0 ns/op
BenchmarkA/c/peer-2    	100	        16.0 ns/op
BenchmarkA/d/levee     	100	        5.0 ns/op
PASS
`
	// A run with -cpu 1 of case c only.
	fresh := `goos: linux
pkg: x
BenchmarkA/c/levee     	100	        11.0 ns/op
BenchmarkA/c/levee     	100	        12.0 ns/op
BenchmarkA/c/peer      	100	        21.0 ns/op
PASS
`
	rs, _ := parse(strings.NewReader(string(mergeRaw([]byte(old), []byte(fresh)))))
	got := map[string][]float64{}
	for _, r := range rs {
		k := r.name + "@" + string(rune('0'+r.procs))
		got[k] = append(got[k], r.values["ns/op"])
	}
	want := map[string][]float64{
		"BenchmarkA/c/levee@1": {11, 12}, // replaced by the new run
		"BenchmarkA/c/peer@1":  {21},
		"BenchmarkA/c/levee@2": {8}, // kept: not measured at cpu 2 this time
		"BenchmarkA/c/peer@2":  {16},
		"BenchmarkA/d/levee@1": {5}, // kept: case d not run
	}
	if len(got) != len(want) {
		t.Fatalf("mergeRaw: got keys %v, want %v", got, want)
	}
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) {
			t.Errorf("mergeRaw: %s = %v, want %v", k, g, w)
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("mergeRaw: %s = %v, want %v", k, g, w)
			}
		}
	}
	if again := mergeRaw(mergeRaw([]byte(old), []byte(fresh)), []byte(fresh)); len(again) != len(mergeRaw([]byte(old), []byte(fresh))) {
		t.Errorf("mergeRaw is not idempotent for a repeated run:\n%s", again)
	}
}
