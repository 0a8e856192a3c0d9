package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// levee is the implementation name levee's own sub-benchmarks carry.
const levee = "levee"

type reportParams struct {
	count                     int
	cpu, benchtime, goVersion string
	date                      string
}

// row is the medians of one implementation in one comparison.
type row struct {
	impl    string
	medians map[string]float64
	n       int // result lines behind the medians
}

// comparison is one case of one benchmark at one GOMAXPROCS: the rows of
// levee and its peers, measured in the same run.
type comparison struct {
	top   string // top-level benchmark
	cas   string // the path between the top level and the implementation
	procs int
	rows  []row
	units []string // in first-seen order
}

func (c *comparison) levee() (row, bool) {
	for _, r := range c.rows {
		if r.impl == levee {
			return r, true
		}
	}
	return row{}, false
}

// bestPeer is the peer with the lowest median ns/op.
func (c *comparison) bestPeer() (row, bool) {
	var best row
	found := false
	for _, r := range c.rows {
		ns, ok := r.medians["ns/op"]
		if r.impl == levee || !ok {
			continue
		}
		if !found || ns < best.medians["ns/op"] {
			best, found = r, true
		}
	}
	return best, found
}

// ratio is levee's ns/op over the best peer's, or NaN when either is missing.
func (c *comparison) ratio() (float64, string) {
	l, ok1 := c.levee()
	p, ok2 := c.bestPeer()
	if !ok1 || !ok2 || p.medians["ns/op"] == 0 {
		return math.NaN(), ""
	}
	return l.medians["ns/op"] / p.medians["ns/op"], p.impl
}

// split cuts a benchmark name into top level, case and implementation.
func split(name string) (top, cas, impl string) {
	parts := strings.Split(name, "/")
	top = parts[0]
	if len(parts) == 1 {
		return top, "", ""
	}
	return top, strings.Join(parts[1:len(parts)-1], "/"), parts[len(parts)-1]
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// aggregate groups results into comparisons, in first-seen order.
func aggregate(rs []result) []*comparison {
	type key struct {
		top, cas string
		procs    int
	}
	type implKey struct {
		key
		impl string
	}
	var order []key
	comps := map[key]*comparison{}
	samples := map[implKey]map[string][]float64{}
	var implOrder = map[key][]string{}
	for _, r := range rs {
		top, cas, impl := split(r.name)
		k := key{top, cas, r.procs}
		c, ok := comps[k]
		if !ok {
			c = &comparison{top: top, cas: cas, procs: r.procs}
			comps[k] = c
			order = append(order, k)
		}
		ik := implKey{k, impl}
		if samples[ik] == nil {
			samples[ik] = map[string][]float64{}
			implOrder[k] = append(implOrder[k], impl)
		}
		for _, u := range r.units {
			if !contains(c.units, u) {
				c.units = append(c.units, u)
			}
			samples[ik][u] = append(samples[ik][u], r.values[u])
		}
	}
	out := make([]*comparison, 0, len(order))
	for _, k := range order {
		c := comps[k]
		for _, impl := range implOrder[k] {
			s := samples[implKey{k, impl}]
			r := row{impl: impl, medians: map[string]float64{}}
			for u, xs := range s {
				r.medians[u] = median(xs)
				r.n = len(xs)
			}
			c.rows = append(c.rows, r)
		}
		// levee first, then peers fastest first.
		sort.SliceStable(c.rows, func(i, j int) bool {
			if (c.rows[i].impl == levee) != (c.rows[j].impl == levee) {
				return c.rows[i].impl == levee
			}
			return c.rows[i].medians["ns/op"] < c.rows[j].medians["ns/op"]
		})
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].top != out[j].top {
			return out[i].top < out[j].top
		}
		if out[i].cas != out[j].cas {
			return out[i].cas < out[j].cas
		}
		return out[i].procs < out[j].procs
	})
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v == 0:
		return "0"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtRatio(r float64) string {
	if math.IsNaN(r) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", r)
}

func label(c *comparison) string {
	if c.cas == "" {
		return c.top
	}
	return c.top + "/" + c.cas
}

func writeReport(w io.Writer, rs []result, env environment, p reportParams) {
	comps := aggregate(rs)
	fmt.Fprintf(w, "# Benchmark results\n\n")
	fmt.Fprintf(w, "Written by `make bench` (bench/cmd/benchrun) on %s: %s, %s/%s, %s; "+
		"last run `-count %d -cpu %s -benchtime %s` (a filtered run replaces only the rows it measured), every leaf sub-benchmark in a process of its own. "+
		"Figures are medians. **ratio** is levee's ns/op divided by the fastest peer's in the same run: "+
		"below 1.00× levee is faster. The raw output is in [results/](results/) (benchstat reads it as is). "+
		"The machine is shared and noisy: trust ratios over absolute figures.\n\n",
		p.date, orDash(env.cpu), orDash(env.goos), orDash(env.goarch), p.goVersion, p.count, p.cpu, p.benchtime)

	fmt.Fprintf(w, "## Summary\n\n")
	fmt.Fprintf(w, "| benchmark | cpu | levee ns/op | levee allocs/op | fastest peer | peer ns/op | peer allocs/op | ratio |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---|---:|---:|---:|\n")
	for _, c := range comps {
		l, ok := c.levee()
		if !ok {
			continue
		}
		p, okp := c.bestPeer()
		r, _ := c.ratio()
		peerName, peerNs, peerAllocs := "–", math.NaN(), math.NaN()
		if okp {
			peerName, peerNs, peerAllocs = p.impl, p.medians["ns/op"], val(p, "allocs/op")
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | **%s** |\n", label(c), c.procs,
			fmtNum(l.medians["ns/op"]), fmtNum(val(l, "allocs/op")), peerName, fmtNum(peerNs), fmtNum(peerAllocs), fmtRatio(r))
	}

	top := ""
	for _, c := range comps {
		if c.top != top {
			top = c.top
			fmt.Fprintf(w, "\n## %s\n", top)
		}
		fmt.Fprintf(w, "\n%s, cpu %d", label(c), c.procs)
		if r, peer := c.ratio(); !math.IsNaN(r) {
			fmt.Fprintf(w, ": levee ÷ %s = **%s**", peer, fmtRatio(r))
		}
		fmt.Fprintf(w, "\n\n| impl |")
		for _, u := range c.units {
			fmt.Fprintf(w, " %s |", u)
		}
		fmt.Fprintf(w, " runs |\n|---|")
		for range c.units {
			fmt.Fprintf(w, "---:|")
		}
		fmt.Fprintf(w, "---:|\n")
		for _, r := range c.rows {
			name := r.impl
			if name == levee {
				name = "**levee**"
			}
			fmt.Fprintf(w, "| %s |", name)
			for _, u := range c.units {
				fmt.Fprintf(w, " %s |", fmtNum(val(r, u)))
			}
			fmt.Fprintf(w, " %d |\n", r.n)
		}
	}
}

func val(r row, unit string) float64 {
	if v, ok := r.medians[unit]; ok {
		return v
	}
	return math.NaN()
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// mergeRaw returns the raw output of a new run of one top-level benchmark
// merged with the file of an earlier run: every line of the new run, then
// the result lines of the old one for the sub-benchmarks and GOMAXPROCS
// values the new run did not measure. So `make bench BENCH=X CPU=1` keeps
// X's cpu-2 rows and the rows of X's other cases.
func mergeRaw(old, fresh []byte) []byte {
	measured := map[string]bool{}
	for _, line := range strings.Split(string(fresh), "\n") {
		if k, ok := resultKey(line); ok {
			measured[k] = true
		}
	}
	out := bytes.NewBuffer(append([]byte(nil), fresh...))
	for _, line := range strings.Split(string(old), "\n") {
		if k, ok := resultKey(line); ok && !measured[k] {
			if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
				out.WriteByte('\n')
			}
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// resultKey names the sub-benchmark and GOMAXPROCS of a result line
// ("BenchmarkX/a/levee-2 100 10 ns/op" → "BenchmarkX/a/levee-2"); ok is
// false for any other line.
func resultKey(line string) (string, bool) {
	rs, _ := parse(strings.NewReader(line))
	if len(rs) != 1 {
		return "", false
	}
	return fmt.Sprintf("%s-%d", rs[0].name, rs[0].procs), true
}
