package flood

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// The environment of a child process: the variant it runs and the run's
// configuration as JSON.
const (
	envVariant = "LEVEE_FLOOD_VARIANT"
	envConfig  = "LEVEE_FLOOD_CONFIG"
)

// IsChild reports whether this process was started by [Run] to run one
// variant.
func IsChild() bool { return os.Getenv(envVariant) != "" }

// ChildMain runs the variant named in the environment and writes its
// progress ("P {json}") and result ("R {json}") lines to stdout. It
// returns the process's exit code.
func ChildMain() int {
	var cfg Config
	if err := json.Unmarshal([]byte(os.Getenv(envConfig)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "flood: child: bad configuration:", err)
		return 2
	}
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	emit := func(kind string, v any) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.WriteString(os.Stdout, kind+" ")
		_ = enc.Encode(v)
	}
	res, err := RunVariant(context.Background(), cfg, os.Getenv(envVariant), func(p Progress) { emit("P", p) })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	emit("R", res)
	return 0
}

// Outputs are the files a run writes.
type Outputs struct {
	Dir, Table, CSV, PNG, SVG, JSON string
}

// Run runs every variant of cfg, each in a child process of this
// executable (which must call [ChildMain] when [IsChild]), shows their
// progress on stderr, and writes the table to stdout and the files to
// cfg.Out (a new temp dir if empty).
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) ([]Result, Outputs, error) {
	if err := cfg.Validate(); err != nil {
		return nil, Outputs{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, Outputs{}, fmt.Errorf("flood: cannot find this executable to run the variants: %w", err)
	}
	out := Outputs{Dir: cfg.Out}
	if out.Dir == "" {
		if out.Dir, err = os.MkdirTemp("", "levee-flood-"); err != nil {
			return nil, out, fmt.Errorf("flood: -out: %w", err)
		}
	} else if err := os.MkdirAll(out.Dir, 0o755); err != nil {
		return nil, out, fmt.Errorf("flood: -out: %w", err)
	}
	fmt.Fprintf(stderr, "levee flood demo: calibrating %v of real work per search…\n", cfg.CPUWork)
	cfg.WorkIters = Calibrate(cfg.CPUWork)
	fmt.Fprint(stdout, Setup(cfg))
	per := cfg.Total() + cfg.Timeout
	rounds := (len(cfg.Variants) + cfg.Parallel - 1) / cfg.Parallel
	fmt.Fprintf(stdout, "running %d variants, %d at a time, %v each: about %v\n\n", len(cfg.Variants), cfg.Parallel, per, time.Duration(rounds)*(per+time.Second))

	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, out, err
	}
	prog := newProgress(stderr, cfg)
	results := make([]Result, len(cfg.Variants))
	errs := make([]error, len(cfg.Variants))
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	for i, name := range cfg.Variants {
		wg.Add(1)
		bar := prog.add(name)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = runChild(ctx, exe, cfgJSON, name, bar)
			bar.finish(errs[i])
		}()
	}
	wg.Wait()
	prog.wait()
	if err := errors.Join(errs...); err != nil {
		return nil, out, err
	}

	fmt.Fprintln(stdout)
	WriteTable(stdout, cfg, results)
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, Legend(cfg))
	fmt.Fprintln(stdout)
	for _, line := range Verdict(cfg, results) {
		fmt.Fprintln(stdout, line)
	}
	for _, r := range results {
		if r.FirstErr != "" {
			fmt.Fprintf(stdout, "note: %s had %d unexpected errors, the first: %s\n", r.Variant, r.Errors, r.FirstErr)
		}
	}

	out.Table = filepath.Join(out.Dir, "flood.md")
	out.CSV = filepath.Join(out.Dir, "flood.csv")
	out.PNG = filepath.Join(out.Dir, "flood.png")
	out.SVG = filepath.Join(out.Dir, "flood.svg")
	out.JSON = filepath.Join(out.Dir, "flood.json")
	var md bytes.Buffer
	fmt.Fprintf(&md, "```\n%s```\n\n", Setup(cfg))
	WriteMarkdown(&md, cfg, results)
	md.WriteString("\n" + strings.ReplaceAll(Legend(cfg), "\n", " ") + "\n\n")
	for _, line := range Verdict(cfg, results) {
		md.WriteString("- " + strings.TrimSpace(line) + "\n")
	}
	if err := os.WriteFile(out.Table, md.Bytes(), 0o644); err != nil {
		return results, out, err
	}
	if err := WriteCSV(out.CSV, cfg, results); err != nil {
		return results, out, err
	}
	if err := WriteChart(cfg, results, out.PNG, out.SVG); err != nil {
		return results, out, err
	}
	js, _ := json.MarshalIndent(struct {
		Config  Config
		Results []Result
	}{cfg, results}, "", "  ")
	if err := os.WriteFile(out.JSON, js, 0o644); err != nil {
		return results, out, err
	}
	fmt.Fprintf(stdout, "\nchart %s and %s, per-second series %s, table %s\n", out.PNG, out.SVG, out.CSV, out.Table)
	fmt.Fprintf(stdout, "output directory: %s\n", out.Dir)
	return results, out, nil
}

// runChild runs one variant in a child process and relays its progress.
func runChild(ctx context.Context, exe string, cfgJSON []byte, name string, bar *progressBar) (Result, error) {
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), envVariant+"="+name, envConfig+"="+string(cfgJSON))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("flood: %s: %w", name, err)
	}
	bar.start()
	var res Result
	got := false
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("P ")):
			var p Progress
			if json.Unmarshal(line[2:], &p) == nil {
				bar.update(p)
			}
		case bytes.HasPrefix(line, []byte("R ")):
			if err := json.Unmarshal(line[2:], &res); err != nil {
				return Result{}, fmt.Errorf("flood: %s: bad result: %w", name, err)
			}
			got = true
		}
	}
	if err := cmd.Wait(); err != nil || !got {
		return Result{}, fmt.Errorf("flood: variant %s failed (%v): %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return res, nil
}

// progress shows one bar per variant with mpb on a terminal, and a line
// every few seconds elsewhere.
type progress struct {
	cfg   Config
	p     *mpb.Progress // nil when stderr is not a terminal
	w     io.Writer
	mu    sync.Mutex // guards w in plain mode
	width int
}

type progressBar struct {
	pr    *progress
	name  string
	bar   *mpb.Bar
	mu    sync.Mutex // guards state, phase, last
	state string
	phase string
	last  time.Time
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newProgress(w io.Writer, cfg Config) *progress {
	pr := &progress{cfg: cfg, w: w}
	for _, v := range cfg.Variants {
		pr.width = max(pr.width, len(v))
	}
	if isTerminal(w) {
		pr.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
	}
	return pr
}

func (pr *progress) add(name string) *progressBar {
	b := &progressBar{pr: pr, name: name, state: "waiting"}
	if pr.p != nil {
		total := int64((pr.cfg.Total() + pr.cfg.Timeout) / (100 * time.Millisecond))
		b.bar = pr.p.AddBar(total,
			mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-*s", pr.width, name))),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				b.mu.Lock()
				defer b.mu.Unlock()
				return b.state
			})),
		)
	}
	return b
}

func (pr *progress) wait() {
	if pr.p != nil {
		pr.p.Wait()
	}
}

func (pr *progress) line(format string, args ...any) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	fmt.Fprintf(pr.w, format+"\n", args...)
}

func (b *progressBar) start() {
	b.mu.Lock()
	b.state = "starting"
	b.mu.Unlock()
	if b.bar == nil {
		b.pr.line("%-*s  started", b.pr.width, b.name)
	}
}

func (b *progressBar) update(p Progress) {
	state := fmt.Sprintf("%-6s %5.1fs  goodput %3.0f%% of capacity  queue %d", p.Phase, p.Elapsed.Seconds(), 100*p.Goodput, p.Queue)
	b.mu.Lock()
	b.state = state
	// Without a terminal, one line per phase and one every 5 s.
	plain := b.bar == nil && (p.Phase != b.phase || time.Since(b.last) >= 5*time.Second)
	if plain {
		b.last, b.phase = time.Now(), p.Phase
	}
	b.mu.Unlock()
	if b.bar != nil {
		b.bar.SetCurrent(int64(p.Elapsed / (100 * time.Millisecond)))
	} else if plain {
		b.pr.line("%-*s  %s", b.pr.width, b.name, state)
	}
}

func (b *progressBar) finish(err error) {
	b.mu.Lock()
	if err != nil {
		b.state = "failed"
	} else {
		b.state = "done"
	}
	b.mu.Unlock()
	if b.bar != nil {
		if err != nil {
			b.bar.Abort(false)
		} else {
			b.bar.SetCurrent(int64((b.pr.cfg.Total() + b.pr.cfg.Timeout) / (100 * time.Millisecond)))
		}
		return
	}
	b.pr.line("%-*s  %s", b.pr.width, b.name, b.state)
}
