package shedding

import (
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// reader is a built-in signal. It reports cumulative busy time and
// capacity in the same unit, so that the load over an interval is
// Δbusy/Δcapacity. A reader is used by one goroutine at a time.
type reader interface {
	name() string
	// read takes the monotonic time now, in ns.
	read(now int64) (busy, capacity float64, err error)
}

// env is where the readers look: a file-system root (/ outside the tests)
// and the number of CPUs the Go runtime sees.
type env struct {
	root   string
	numCPU int
}

func hostEnv(root string) env { return env{root: root, numCPU: runtime.NumCPU()} }

func (e env) path(p string) string { return filepath.Join(e.root, filepath.FromSlash(p)) }

// readFile reads at most maxFile bytes of the file at p under the root.
func (e env) readFile(p string) ([]byte, error) {
	f, err := os.Open(e.path(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFile))
}

// cgroups is what /proc/self/cgroup and /proc/self/mountinfo say about the
// process's cgroups.
type cgroups struct {
	entries []cgroupEntry
	mounts  []mount
}

func loadCgroups(e env) (cgroups, error) {
	data, err := e.readFile("/proc/self/cgroup")
	if err != nil {
		return cgroups{}, err
	}
	entries, err := parseProcCgroup(data)
	if err != nil {
		return cgroups{}, fmt.Errorf("/proc/self/cgroup: %w", err)
	}
	data, err = e.readFile("/proc/self/mountinfo")
	if err != nil {
		return cgroups{}, err
	}
	mounts, err := parseMountinfo(data)
	if err != nil {
		return cgroups{}, fmt.Errorf("/proc/self/mountinfo: %w", err)
	}
	return cgroups{entries: entries, mounts: mounts}, nil
}

// v1 reports whether a cgroup v1 hierarchy holds controller.
func (c cgroups) v1(controller string) bool {
	for _, e := range c.entries {
		if slices.Contains(e.controllers, controller) {
			return true
		}
	}
	return false
}

// cgDir is a cgroup directory and the mount point above which the walk up
// the hierarchy stops.
type cgDir struct {
	dir, top string // slash paths, not yet under the root
}

// dir finds the directory of the process's cgroup: in the v1 hierarchy
// holding controller, or the v2 one if controller is "".
func (c cgroups) dir(controller string) (cgDir, error) {
	var cgPath string
	found := false
	for _, e := range c.entries {
		if (controller == "" && e.id == 0 && len(e.controllers) == 0) || (controller != "" && slices.Contains(e.controllers, controller)) {
			cgPath, found = e.path, true
			break
		}
	}
	what := "cgroup v2"
	if controller != "" {
		what = "cgroup v1 " + controller
	}
	if !found {
		return cgDir{}, fmt.Errorf("%s: not in /proc/self/cgroup", what)
	}
	for _, m := range c.mounts {
		if controller == "" && m.fstype != "cgroup2" || controller != "" && (m.fstype != "cgroup" || !slices.Contains(m.opts, controller)) {
			continue
		}
		return cgDir{dir: within(m, cgPath), top: m.point}, nil
	}
	return cgDir{}, fmt.Errorf("%s: no mount in /proc/self/mountinfo", what)
}

// within maps a cgroup path onto mount m. A mount whose root is the
// cgroup's path or one of its ancestors holds it below its mount point (a
// host mount, or a container's own subtree mounted without a cgroup
// namespace); otherwise (a cgroup namespace whose root the process sees as
// "/", or a path outside the mount) the mount point itself is the
// process's cgroup.
func within(m mount, cgPath string) string {
	root := strings.TrimSuffix(m.root, "/")
	switch {
	case strings.HasPrefix(cgPath, "/.."):
		return m.point
	case root == "":
		return path.Join(m.point, cgPath)
	case cgPath == root || strings.HasPrefix(cgPath, root+"/"):
		return path.Join(m.point, cgPath[len(root):])
	}
	return m.point
}

// up lists d.dir and its ancestors up to d.top.
func (d cgDir) up() []string {
	var out []string
	p := d.dir
	for {
		out = append(out, p)
		if p == d.top || p == "/" || p == "." || !strings.HasPrefix(p, d.top) {
			return out
		}
		p = path.Dir(p)
	}
}

// cgroupV2 reads the cgroup v2 cpu.stat of the process's cgroup, scaled to
// the CPUs it may use: the tightest cpu.max from its cgroup up to the
// mount, its cpuset.cpus.effective, and the CPUs Go sees.
type cgroupV2 struct {
	e   env
	d   cgDir
	cap capacity
}

func (r *cgroupV2) name() string { return "cgroup2" }

func (r *cgroupV2) cpus() float64 {
	n := float64(r.e.numCPU)
	for _, p := range r.d.up() {
		data, err := r.e.readFile(p + "/cpu.max")
		if err != nil {
			continue
		}
		if q, err := parseCPUMax(data); err == nil {
			n = min(n, q)
		}
	}
	if data, err := r.e.readFile(r.d.dir + "/cpuset.cpus.effective"); err == nil {
		if c, err := parseCPUList(data); err == nil {
			n = min(n, float64(c))
		}
	}
	return n
}

func (r *cgroupV2) read(now int64) (float64, float64, error) {
	data, err := r.e.readFile(r.d.dir + "/cpu.stat")
	if err != nil {
		return 0, 0, err
	}
	usec, err := parseCPUStat(data)
	if err != nil {
		return 0, 0, fmt.Errorf("%s/cpu.stat: %w", r.d.dir, err)
	}
	return float64(usec) * 1e3, r.cap.at(now, r.cpus()), nil
}

// cgroupV1 reads cpuacct.usage of the process's cgroup v1, scaled to the
// tightest cpu.cfs_quota_us/cpu.cfs_period_us up the cpu hierarchy, its
// cpuset.cpus and the CPUs Go sees.
type cgroupV1 struct {
	e        env
	acct     cgDir
	cpu, set *cgDir // nil: the hierarchy is not mounted
	cap      capacity
}

func (r *cgroupV1) name() string { return "cgroup1" }

func (r *cgroupV1) cpus() float64 {
	n := float64(r.e.numCPU)
	if r.cpu != nil {
		for _, p := range r.cpu.up() {
			q, err1 := readInt(r.e, p+"/cpu.cfs_quota_us")
			per, err2 := readInt(r.e, p+"/cpu.cfs_period_us")
			if err1 == nil && err2 == nil && q > 0 && per > 0 {
				n = min(n, float64(q)/float64(per))
			}
		}
	}
	if r.set != nil {
		if data, err := r.e.readFile(r.set.dir + "/cpuset.cpus"); err == nil {
			if c, err := parseCPUList(data); err == nil {
				n = min(n, float64(c))
			}
		}
	}
	return n
}

func (r *cgroupV1) read(now int64) (float64, float64, error) {
	ns, err := readInt(r.e, r.acct.dir+"/cpuacct.usage")
	if err != nil {
		return 0, 0, err
	}
	if ns < 0 {
		return 0, 0, fmt.Errorf("%s/cpuacct.usage: negative usage %d", r.acct.dir, ns)
	}
	return float64(ns), r.cap.at(now, r.cpus()), nil
}

func readInt(e env, p string) (int64, error) {
	data, err := e.readFile(p)
	if err != nil {
		return 0, err
	}
	n, err := parseInt(data)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return n, nil
}

// capacity accumulates wall time × CPUs, so that a change of quota applies
// from the interval in which it is seen.
type capacity struct {
	last  int64
	total float64
	begun bool
}

func (c *capacity) at(now int64, cpus float64) float64 {
	if !c.begun {
		c.last, c.begun = now, true
		return 0
	}
	c.total += float64(max(now-c.last, 0)) * max(cpus, 0.001)
	c.last = now
	return c.total
}

// pressure reads the "some" total of a cpu.pressure file against wall time.
type pressure struct {
	e    env
	file string
	kind string
	cap  capacity
}

func (r *pressure) name() string { return r.kind }

func (r *pressure) read(now int64) (float64, float64, error) {
	data, err := r.e.readFile(r.file)
	if err != nil {
		return 0, 0, err
	}
	us, err := parsePSI(data)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", r.file, err)
	}
	return float64(us) * 1e3, r.cap.at(now, 1), nil
}

// detect finds the first source of signal that can be read here and reads
// it once. For CPU the chain is cgroup v2, cgroup v1, host, with v1 first
// when the cpu controller is bound to a v1 hierarchy (the hybrid layout,
// where the v2 tree carries no quota); for Pressure, the cgroup v2 tree's
// cpu.pressure, then the host's.
func detect(sig Signal, e env, now int64) (reader, error) {
	var errs []error
	try := func(r reader, err error) reader {
		if err == nil {
			_, _, err = r.read(now)
		}
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		return r
	}
	cg, cgErr := loadCgroups(e)
	if cgErr != nil {
		errs = append(errs, cgErr)
	}
	v2 := func() reader {
		if cgErr != nil {
			return nil
		}
		d, err := cg.dir("")
		return try(&cgroupV2{e: e, d: d}, err)
	}
	v1 := func() reader {
		if cgErr != nil {
			return nil
		}
		acct, err := cg.dir("cpuacct")
		r := &cgroupV1{e: e, acct: acct}
		if d, err := cg.dir("cpu"); err == nil {
			r.cpu = &d
		}
		if d, err := cg.dir("cpuset"); err == nil {
			r.set = &d
		}
		return try(r, err)
	}
	var chain []func() reader
	switch sig {
	case CPU:
		host := func() reader { return try(newHost(e)) }
		if cgErr == nil && cg.v1("cpu") {
			chain = append(chain, v1, v2, host)
		} else {
			chain = append(chain, v2, v1, host)
		}
	case Pressure:
		chain = append(chain, func() reader {
			if cgErr != nil {
				return nil
			}
			d, err := cg.dir("")
			return try(&pressure{e: e, file: d.dir + "/cpu.pressure", kind: "psi-cgroup2"}, err)
		}, func() reader {
			return try(&pressure{e: e, file: "/proc/pressure/cpu", kind: "psi-host"}, nil)
		})
	}
	for _, f := range chain {
		if r := f(); r != nil {
			return r, nil
		}
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return nil, fmt.Errorf("%w: cannot read the %v signal here (%s)", ErrNoSignal, sig, strings.Join(msgs, "; "))
}

// permille turns the change between two readings into a load.
func permille(busy0, cap0, busy1, cap1 float64) (int64, bool) {
	db, dc := busy1-busy0, cap1-cap0
	if !(dc > 0) || db < 0 || math.IsNaN(db) {
		return 0, false
	}
	return int64(min(db/dc, 1) * 1000), true
}
