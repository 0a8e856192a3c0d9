package flood

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// pct formats a fraction as a percentage.
func pct(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

func ms(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func share(n, of int) string {
	if of == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

// RecoveryString is a result's recovery time, or "none" when goodput did
// not catch up with the offered load before the end of the run.
func (r Result) RecoveryString(after time.Duration) string {
	if !r.Recovered {
		return "> " + after.String()
	}
	return fmt.Sprintf("%.1f s", r.Recovery.Seconds())
}

var tableHeader = []string{"variant", "position", "goodput before", "goodput flood", "goodput after", "p50 flood", "p99 flood", "rejected", "shed", "timed out", "wasted work", "recovery"}

// Legend explains the columns of the table.
func Legend(cfg Config) string {
	return fmt.Sprintf("goodput: searches answered within the %v timeout per second, as a share of capacity (offered: %s, %s, %s);\n"+
		"p50/p99: latency of the successful searches that arrived during the flood; rejected (by a guard in the client),\n"+
		"shed (503 or 429 from the node) and timed out: shares of all searches; wasted work: share of the node's work\n"+
		"spent on searches whose caller had left; recovery: from the end of the flood until every later half second\n"+
		"has at least 90%% of its searches answered in time.\n",
		cfg.Timeout, pct(cfg.NormalFactor), pct(cfg.FloodFactor), pct(cfg.NormalFactor))
}

func tableRow(cfg Config, r Result) []string {
	return []string{
		r.Variant, r.Position,
		pct(r.Before.Goodput), pct(r.Flood.Goodput), pct(r.After.Goodput),
		ms(r.P50), ms(r.P99),
		share(r.Rejected, r.Calls), share(r.Shed, r.Calls), share(r.TimedOut, r.Calls),
		fmt.Sprintf("%.0f%%", r.WastedPct),
		r.RecoveryString(cfg.After),
	}
}

// WriteTable writes the results as an aligned terminal table.
func WriteTable(w io.Writer, cfg Config, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(tableHeader, "\t"))
	for _, r := range results {
		fmt.Fprintln(tw, strings.Join(tableRow(cfg, r), "\t"))
	}
	_ = tw.Flush()
}

// WriteMarkdown writes the results as a Markdown table.
func WriteMarkdown(w io.Writer, cfg Config, results []Result) {
	fmt.Fprintln(w, "| "+strings.Join(tableHeader, " | ")+" |")
	seps := make([]string, len(tableHeader))
	for i := range seps {
		seps[i] = "---"
		if i >= 2 {
			seps[i] = "---:"
		}
	}
	fmt.Fprintln(w, "| "+strings.Join(seps, " | ")+" |")
	for _, r := range results {
		fmt.Fprintln(w, "| "+strings.Join(tableRow(cfg, r), " | ")+" |")
	}
}

// Setup describes the run: the backend, the load and how the comparison
// is kept fair.
func Setup(cfg Config) string {
	var b strings.Builder
	mode := "unbounded FIFO queue, finishes abandoned searches, " +
		fmt.Sprintf("memory-pressure slowdown ×(1 + queue/%d), at most ×%g", cfg.PressureQueue, cfg.MaxSlowdown)
	if cfg.PressureQueue == 0 {
		mode = "unbounded FIFO queue, finishes abandoned searches, no slowdown"
	}
	if cfg.Backend == Admission {
		mode = fmt.Sprintf("admission control: search queue of %d, 429 es_rejected_execution_exception when full", cfg.QueueSize)
	}
	fmt.Fprintf(&b, "backend: capacity %d searches/s (%d workers × %v each, %v of it real CPU work), %s\n",
		cfg.Capacity, cfg.Workers, cfg.ServiceTime().Round(100*time.Microsecond), cfg.CPUWork, mode)
	fmt.Fprintf(&b, "load:    open loop, Poisson, seed %d: %.0f/s for %v, flood %.0f/s (%g× capacity) for %v, %.0f/s for %v; client timeout %v\n",
		cfg.Seed, cfg.NormalFactor*float64(cfg.Capacity), cfg.Before, cfg.FloodFactor*float64(cfg.Capacity), cfg.FloodFactor, cfg.Flood,
		cfg.NormalFactor*float64(cfg.Capacity), cfg.After, cfg.Timeout)
	fmt.Fprintf(&b, "client:  go-elasticsearch v8 (esapi + elastic-transport), default retries (502/503/504, 3, no back-off), no retry of a guard's rejection\n")
	fmt.Fprintf(&b, "fair:    every variant gets a fresh backend in its own process (%d at a time), the same arrivals, the same client and\n", cfg.Parallel)
	fmt.Fprintf(&b, "         failure rule (transport error or timeout, 5xx, 429); every guard runs with its defaults:\n")
	for _, name := range cfg.Variants {
		v, _ := variantByName(name)
		fmt.Fprintf(&b, "         %-20s %s\n", v.Name, v.Fair)
	}
	return b.String()
}

// WriteCSV writes the per-second series of every variant.
func WriteCSV(path string, cfg Config, results []Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"variant", "second", "phase", "offered", "ok", "goodput_of_capacity", "rejected", "shed", "timed_out", "errors", "wasted", "max_queue"})
	for _, r := range results {
		for _, s := range r.Series {
			_ = w.Write([]string{
				r.Variant, strconv.Itoa(s.Second), s.Phase, strconv.Itoa(s.Offered), strconv.Itoa(s.OK),
				strconv.FormatFloat(float64(s.OK)/float64(cfg.Capacity), 'f', 3, 64),
				strconv.Itoa(s.Rejected), strconv.Itoa(s.Shed), strconv.Itoa(s.TimedOut), strconv.Itoa(s.Errors),
				strconv.FormatInt(s.Wasted, 10), strconv.Itoa(s.MaxQueue),
			})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// Verdict checks the goals of the demo against the results and explains
// each in one line.
func Verdict(cfg Config, results []Result) []string {
	var out []string
	by := map[string]Result{}
	for _, r := range results {
		by[r.Variant] = r
	}
	var best *Result
	for i, r := range results {
		if r.Levee && r.Position != PosNone && (best == nil || r.Flood.Goodput > best.Flood.Goodput) {
			best = &results[i]
		}
	}
	mark := func(ok bool) string {
		if ok {
			return "met   "
		}
		return "MISSED"
	}
	if best != nil {
		out = append(out, fmt.Sprintf("%s best levee variant (%s) keeps %.1f%% of capacity during the flood (goal ≥ 90%%)", mark(best.Flood.Goodput >= 0.9), best.Variant, 100*best.Flood.Goodput))
		out = append(out, fmt.Sprintf("%s its p99 of successful searches is %s over the flood (goal < %v, half the client timeout); %s from %v into the flood on",
			mark(best.P99 < cfg.Timeout/2), ms(best.P99), cfg.Timeout/2, ms(best.P99Steady), cfg.SteadyFrom()))
		out = append(out, fmt.Sprintf("%s it recovers %s after the flood (goal ≤ 2 s)", mark(best.Recovered && best.Recovery <= 2*time.Second), best.RecoveryString(cfg.After)))
	}
	if u, ok := by["unprotected"]; ok && cfg.Backend == Admission {
		out = append(out, fmt.Sprintf("info   unprotected keeps %s of capacity during the flood behind the node's own admission control, recovery %s", pct(u.Flood.Goodput), u.RecoveryString(cfg.After)))
	} else if ok {
		collapsed := u.Flood.Goodput < 0.5
		out = append(out, fmt.Sprintf("%s unprotected collapses: %s of capacity during the flood, %s after, recovery %s", mark(collapsed), pct(u.Flood.Goodput), pct(u.After.Goodput), u.RecoveryString(cfg.After)))
	}
	for _, pair := range [][2]string{{"levee-breaker", "gozero-breaker"}, {"levee-limit", "failsafe-limit"}, {"levee-shedder", "gozero-shedder"}} {
		l, lok := by[pair[0]]
		p, pok := by[pair[1]]
		if !lok || !pok {
			continue
		}
		goodput := l.Flood.Goodput >= p.Flood.Goodput-0.02
		faster := l.Recovered && (!p.Recovered || l.Recovery <= p.Recovery+200*time.Millisecond)
		if !l.Recovered && !p.Recovered {
			faster = true
		}
		out = append(out, fmt.Sprintf("%s %s vs %s (%s): flood goodput %s vs %s, recovery %s vs %s", mark(goodput && faster), l.Variant, p.Variant, l.Position,
			pct(l.Flood.Goodput), pct(p.Flood.Goodput), l.RecoveryString(cfg.After), p.RecoveryString(cfg.After)))
	}
	return out
}
