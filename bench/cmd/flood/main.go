// Command flood replays the story behind levee: a traffic surge hits a
// service whose searches go to an Elasticsearch node through the real Go
// client. Unprotected, the node drowns and the service with it; behind
// levee's guards both stay up. Each variant (no guard, levee's breaker,
// adaptive concurrency limit and shedder, go-zero's and failsafe-go's in
// the same places) runs on a fresh simulated node in a process of its
// own; the command prints a table and writes a chart (PNG, SVG) and the
// per-second series (CSV).
//
// Usage, from the repository root:
//
//	go run ./bench/cmd/flood [flags]
//
// Run with -h for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/levee-go/levee/bench/flood"
)

func main() {
	if flood.IsChild() {
		os.Exit(flood.ChildMain())
	}
	cfg, err := parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, _, err := flood.Run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// parse reads the flags into a validated configuration.
func parse(args []string, stderr io.Writer) (flood.Config, error) {
	cfg := flood.DefaultConfig()
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/cmd/flood [flags]\n\n"+
			"Floods a simulated Elasticsearch node through the real Go client, once per protection,\n"+
			"and reports goodput, latency, rejections and recovery. Flags:\n\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.Capacity, "capacity", cfg.Capacity, "searches per second the backend can serve")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "backend workers; each search holds one for workers/capacity seconds")
	fs.DurationVar(&cfg.CPUWork, "cpu-work", cfg.CPUWork, "real CPU work of one search (calibrated at start-up), part of its service time")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "client timeout per search")
	fs.DurationVar(&cfg.Before, "before", cfg.Before, "normal load before the flood (at least 1s)")
	fs.DurationVar(&cfg.Flood, "flood", cfg.Flood, "duration of the flood (at least 1s)")
	fs.DurationVar(&cfg.After, "after", cfg.After, "normal load after the flood (at least 1s)")
	fs.Float64Var(&cfg.NormalFactor, "normal", cfg.NormalFactor, "normal load as a fraction of capacity, in (0, 1]")
	fs.Float64Var(&cfg.FloodFactor, "flood-factor", cfg.FloodFactor, "flood load as a multiple of capacity, in (0, 20]")
	fs.StringVar(&cfg.Backend, "backend", cfg.Backend, "backend mode: "+strings.Join(flood.BackendModes, " or ")+
		" (unbounded queue that finishes abandoned searches, or Elasticsearch's bounded search queue answering 429)")
	fs.IntVar(&cfg.QueueSize, "queue-size", cfg.QueueSize, "search queue bound of -backend admission")
	fs.IntVar(&cfg.PressureQueue, "pressure-queue", cfg.PressureQueue, "queue length that doubles the service time (memory pressure); 0 disables the slowdown")
	fs.Float64Var(&cfg.MaxSlowdown, "max-slowdown", cfg.MaxSlowdown, "cap of the memory-pressure slowdown, in [1, 100]")
	variants := fs.String("variants", strings.Join(cfg.Variants, ","), "comma-separated variants to run, of: "+strings.Join(flood.VariantNames(), ", "))
	fs.IntVar(&cfg.Parallel, "parallel", cfg.Parallel, "variants run at the same time, each in its own process")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the arrival sequence")
	fs.StringVar(&cfg.Out, "out", "", "output directory for the chart, CSV and table (default: a new directory under the OS temp dir)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("flood: unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	cfg.Variants = nil
	for _, v := range strings.Split(*variants, ",") {
		if v = strings.TrimSpace(v); v != "" {
			cfg.Variants = append(cfg.Variants, v)
		}
	}
	return cfg, cfg.Validate()
}
