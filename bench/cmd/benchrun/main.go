// Command benchrun runs levee's side-by-side benchmarks and writes
// bench/RESULTS.md.
//
// Every leaf sub-benchmark (BenchmarkRollingWindowAdd/parallel/gozero, ...)
// runs in a test binary process of its own: some peers start goroutines that
// never stop, or install signal handlers on import, and would otherwise slow
// or disturb whatever runs after them in the same process.
//
// The raw output of each top-level benchmark is kept in
// bench/results/<Benchmark>.txt (benchstat reads it as is); RESULTS.md is
// rebuilt from all of them. A run filtered with -bench or -cpu replaces only
// what it measured: a result line of an earlier run survives unless this run
// measured the same sub-benchmark at the same GOMAXPROCS.
//
// Usage (from bench/, or via `make bench` at the root):
//
//	go run ./cmd/benchrun [-bench regexp] [-count 5] [-cpu 1,2] [-benchtime 1s]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

func main() {
	var (
		benchRE   = flag.String("bench", ".", "run only top-level benchmarks matching this regexp")
		count     = flag.Int("count", 5, "runs of each benchmark (medians are reported)")
		cpu       = flag.String("cpu", "1,2", "GOMAXPROCS values to run each benchmark with")
		benchtime = flag.String("benchtime", "1s", "-test.benchtime for each run")
		resDir    = flag.String("results", "results", "directory for the raw output, one file per benchmark")
		report    = flag.String("o", "RESULTS.md", "the report to write")
	)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchrun: ")

	filter, err := regexp.Compile(*benchRE)
	if err != nil {
		log.Fatalf("bad -bench: %v", err)
	}
	if *count < 1 {
		log.Fatalf("-count must be at least 1, got %d", *count)
	}
	if err := os.MkdirAll(*resDir, 0o755); err != nil {
		log.Fatal(err)
	}
	binDir, err := os.MkdirTemp("", "benchrun")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(binDir)

	pkgs, err := benchPackages()
	if err != nil {
		log.Fatal(err)
	}
	ran := map[string]bool{}
	for _, p := range pkgs {
		bin := filepath.Join(binDir, strings.ReplaceAll(p.importPath, "/", "_")+".test")
		if out, err := exec.Command("go", "test", "-c", "-o", bin, p.importPath).CombinedOutput(); err != nil {
			log.Fatalf("building %s: %v\n%s", p.importPath, err, out)
		}
		tops, err := listBenchmarks(bin, p.dir)
		if err != nil {
			log.Fatalf("listing %s: %v", p.importPath, err)
		}
		for _, top := range tops {
			ran[top] = true
			if !filter.MatchString(top) {
				continue
			}
			leaves, err := discoverLeaves(bin, p.dir, top)
			if err != nil {
				log.Fatalf("%s: %v", top, err)
			}
			var raw bytes.Buffer
			for _, leaf := range leaves {
				log.Printf("%s", leaf)
				out, err := runLeaf(bin, p.dir, leaf, *count, *cpu, *benchtime)
				raw.Write(out)
				if err != nil {
					log.Fatalf("%s: %v\n%s", leaf, err, out)
				}
			}
			file := filepath.Join(*resDir, top+".txt")
			old, _ := os.ReadFile(file) // none yet is fine
			if err := os.WriteFile(file, mergeRaw(old, raw.Bytes()), 0o644); err != nil {
				log.Fatal(err)
			}
		}
	}
	if *benchRE == "." {
		// A full run: drop the output of benchmarks that no longer exist.
		old, _ := filepath.Glob(filepath.Join(*resDir, "Benchmark*.txt"))
		for _, f := range old {
			if !ran[strings.TrimSuffix(filepath.Base(f), ".txt")] {
				os.Remove(f)
			}
		}
	}

	files, _ := filepath.Glob(filepath.Join(*resDir, "Benchmark*.txt"))
	sort.Strings(files)
	var all []result
	var env environment
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		rs, e := parse(bytes.NewReader(data))
		all = append(all, rs...)
		env.merge(e)
	}
	var md bytes.Buffer
	writeReport(&md, all, env, reportParams{
		count: *count, cpu: *cpu, benchtime: *benchtime,
		goVersion: runtime.Version(), date: time.Now().UTC().Format("2006-01-02"),
	})
	if err := os.WriteFile(*report, md.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s from %d result lines", *report, len(all))
}

type pkg struct{ importPath, dir string }

// benchPackages lists the packages of this module that have test files.
func benchPackages() ([]pkg, error) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{len .TestGoFiles}}\t{{len .XTestGoFiles}}", "./...").Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 4 && (f[2] != "0" || f[3] != "0") {
			pkgs = append(pkgs, pkg{f[0], f[1]})
		}
	}
	return pkgs, nil
}

func listBenchmarks(bin, dir string) ([]string, error) {
	cmd := exec.Command(bin, "-test.list", "^Benchmark")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range strings.Fields(string(out)) {
		if strings.HasPrefix(l, "Benchmark") {
			names = append(names, l)
		}
	}
	return names, nil
}

// discoverLeaves runs a top-level benchmark once per leaf (-benchtime 1x)
// to learn the full names of its leaf sub-benchmarks.
func discoverLeaves(bin, dir, top string) ([]string, error) {
	cmd := exec.Command(bin, "-test.run", "^$", "-test.bench", "^"+regexp.QuoteMeta(top)+"$",
		"-test.benchtime", "1x", "-test.cpu", "1")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("discovery: %v\n%s", err, out)
	}
	rs, _ := parse(bytes.NewReader(out))
	var leaves []string
	seen := map[string]bool{}
	for _, r := range rs {
		if !seen[r.name] {
			seen[r.name] = true
			leaves = append(leaves, r.name)
		}
	}
	if len(leaves) == 0 {
		return nil, fmt.Errorf("no results in discovery run:\n%s", out)
	}
	return leaves, nil
}

func runLeaf(bin, dir, leaf string, count int, cpu, benchtime string) ([]byte, error) {
	parts := strings.Split(leaf, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := exec.Command(bin, "-test.run", "^$", "-test.bench", strings.Join(parts, "/"),
		"-test.count", fmt.Sprint(count), "-test.cpu", cpu, "-test.benchmem", "-test.benchtime", benchtime)
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	return buf.Bytes(), err
}

// result is one benchmark result line.
type result struct {
	name   string // without the -N GOMAXPROCS suffix
	procs  int
	values map[string]float64 // unit -> value
	units  []string           // in the order printed
}

type environment struct{ cpu, goos, goarch string }

func (e *environment) merge(o environment) {
	if e.cpu == "" {
		e.cpu = o.cpu
	}
	if e.goos == "" {
		e.goos = o.goos
	}
	if e.goarch == "" {
		e.goarch = o.goarch
	}
}

var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// parse reads Go benchmark output and returns its result lines.
func parse(r io.Reader) ([]result, environment) {
	var rs []result
	var env environment
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		for _, kv := range []struct {
			key string
			dst *string
		}{{"cpu: ", &env.cpu}, {"goos: ", &env.goos}, {"goarch: ", &env.goarch}} {
			if strings.HasPrefix(line, kv.key) && *kv.dst == "" {
				*kv.dst = strings.TrimPrefix(line, kv.key)
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		var iters int
		if _, err := fmt.Sscan(f[1], &iters); err != nil {
			continue
		}
		r := result{name: f[0], procs: 1, values: map[string]float64{}}
		if m := procsSuffix.FindStringSubmatch(f[0]); m != nil {
			r.name = strings.TrimSuffix(f[0], m[0])
			fmt.Sscan(m[1], &r.procs)
		}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			var v float64
			if _, err := fmt.Sscan(f[i], &v); err != nil {
				ok = false
				break
			}
			r.values[f[i+1]] = v
			r.units = append(r.units, f[i+1])
		}
		if ok {
			rs = append(rs, r)
		}
	}
	return rs, env
}
