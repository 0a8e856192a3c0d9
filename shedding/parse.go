package shedding

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The parsers of the files the built-in signals read. Each refuses what it
// does not understand with an error: a reading it cannot trust must fall
// through to the next source, never become a silent 0.

// maxFile bounds how much of a file the parsers look at.
const maxFile = 1 << 20

var errEmpty = errors.New("empty file")

// cgroupEntry is a line of /proc/self/cgroup: "id:controllers:path".
type cgroupEntry struct {
	id          int
	controllers []string // empty for cgroup v2 ("0::/path")
	path        string
}

func parseProcCgroup(data []byte) ([]cgroupEntry, error) {
	var out []cgroupEntry
	for n, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: %q has no colon", n+1, clip(line))
		}
		ctl, path, ok := strings.Cut(rest, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: %q has one colon, want two", n+1, clip(line))
		}
		i, err := strconv.Atoi(id)
		if err != nil || i < 0 {
			return nil, fmt.Errorf("line %d: bad hierarchy id %q", n+1, clip(id))
		}
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("line %d: path %q is not absolute", n+1, clip(path))
		}
		e := cgroupEntry{id: i, path: path}
		if ctl != "" {
			e.controllers = strings.Split(ctl, ",")
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, errEmpty
	}
	return out, nil
}

// mount is a line of /proc/self/mountinfo, the fields the sources need.
type mount struct {
	root   string // the mounted directory's path inside its file system
	point  string // where it is mounted
	fstype string
	opts   []string // super options: the v1 controllers, among others
}

func parseMountinfo(data []byte) ([]mount, error) {
	var out []mount
	for n, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			return nil, fmt.Errorf("line %d: no separator in %q", n+1, clip(line))
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 6 || len(g) < 3 {
			return nil, fmt.Errorf("line %d: too few fields in %q", n+1, clip(line))
		}
		root, err := unescapeMount(f[3])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		point, err := unescapeMount(f[4])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		if !strings.HasPrefix(root, "/") || !strings.HasPrefix(point, "/") {
			return nil, fmt.Errorf("line %d: root %q or mount point %q is not absolute", n+1, clip(root), clip(point))
		}
		out = append(out, mount{root: root, point: point, fstype: g[0], opts: strings.Split(g[2], ",")})
	}
	if len(out) == 0 {
		return nil, errEmpty
	}
	return out, nil
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", fmt.Errorf("bad escape in %q", clip(s))
		}
		v, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", clip(s))
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// parseCPUMax parses cgroup v2 cpu.max, "$MAX $PERIOD" or "max $PERIOD",
// into the CPUs it allows; +Inf for "max".
func parseCPUMax(data []byte) (float64, error) {
	f := strings.Fields(string(data))
	if len(f) != 2 && len(f) != 1 {
		return 0, fmt.Errorf("cpu.max: want \"$MAX $PERIOD\", got %q", clip(string(data)))
	}
	period := int64(100000)
	if len(f) == 2 {
		p, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || p <= 0 {
			return 0, fmt.Errorf("cpu.max: bad period %q", clip(f[1]))
		}
		period = p
	}
	if f[0] == "max" {
		return math.Inf(1), nil
	}
	q, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || q <= 0 {
		return 0, fmt.Errorf("cpu.max: bad quota %q", clip(f[0]))
	}
	return float64(q) / float64(period), nil
}

// parseCPUStat returns the usage_usec of cgroup v2 cpu.stat.
func parseCPUStat(data []byte) (int64, error) {
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok || k != "usage_usec" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("cpu.stat: bad usage_usec %q", clip(v))
		}
		return n, nil
	}
	return 0, errors.New("cpu.stat: no usage_usec")
}

// parseInt parses a file holding one integer (cpuacct.usage,
// cpu.cfs_quota_us, cpu.cfs_period_us).
func parseInt(data []byte) (int64, error) {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return 0, errEmpty
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer, got %q", clip(s))
	}
	return n, nil
}

// maxCPUs bounds a CPU list, so that "0-4000000000" is an error rather
// than a long loop or a nonsense count.
const maxCPUs = 1 << 16

// parseCPUList counts the CPUs of a list such as "0-3,8,10-11".
func parseCPUList(data []byte) (int, error) {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return 0, errEmpty
	}
	seen := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a >= maxCPUs {
			return 0, fmt.Errorf("cpu list: bad cpu %q", clip(lo))
		}
		b := a
		if isRange {
			b, err = strconv.Atoi(hi)
			if err != nil || b < a || b >= maxCPUs {
				return 0, fmt.Errorf("cpu list: bad range %q", clip(part))
			}
		}
		seen += b - a + 1
	}
	if seen > maxCPUs {
		return 0, fmt.Errorf("cpu list: more than %d cpus", maxCPUs)
	}
	return seen, nil
}

// parsePSI returns the total of the "some" line of a pressure file, in
// microseconds.
func parsePSI(data []byte) (int64, error) {
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "some" {
			continue
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			if k != "total" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("pressure: bad total %q", clip(v))
			}
			return n, nil
		}
		return 0, errors.New("pressure: no total on the some line")
	}
	return 0, errors.New("pressure: no some line")
}

// parseProcStat returns the busy and total jiffies of the "cpu" line of
// /proc/stat; idle and iowait are not busy.
func parseProcStat(data []byte) (busy, total uint64, err error) {
	for _, line := range bytes.Split(data, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 5 {
			return 0, 0, fmt.Errorf("stat: cpu line has %d fields, want at least 5", len(f))
		}
		var idle uint64
		for i, v := range f[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("stat: bad field %q", clip(v))
			}
			if i >= 8 { // guest and guest_nice are part of user and nice
				break
			}
			if total+n < total {
				return 0, 0, errors.New("stat: cpu times overflow")
			}
			total += n
			if i == 3 || i == 4 {
				idle += n
			}
		}
		if total == 0 {
			return 0, 0, errors.New("stat: cpu times are all 0")
		}
		return total - idle, total, nil
	}
	return 0, 0, errors.New("stat: no cpu line")
}

// clip shortens what an error quotes.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
