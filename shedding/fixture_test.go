package shedding

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tree copies the fixture tree testdata/name into a fresh directory, so a
// test can change the counters between two readings.
func tree(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("testdata", name)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	require.NoError(t, err)
	return dst
}

func write(t *testing.T, root, p, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(root, filepath.FromSlash(p)), []byte(content), 0o644))
}

// TestFixtures detects the CPU source of each fixture tree, checks the CPUs
// it scales to, then advances the usage counter by a known amount over one
// second of wall time and checks the load.
func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		tree    string
		numCPU  int
		source  string
		cpus    float64
		counter string                    // file advanced between the readings
		advance func(load float64) string // its content for the given use of cpus over 1 s
		load    int64
	}{
		{
			tree: "cgroup1", numCPU: 8, source: "cgroup1", cpus: 1.5, // quota 1.5 < cpuset 4 < 8
			counter: "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage",
			advance: func(used float64) string { return strconv.FormatInt(5_000_000_000+int64(used*1e9), 10) },
			load:    600, // 0.9 CPU-seconds of 1.5
		},
		{
			tree: "cgroup2-nested", numCPU: 16, source: "cgroup2", cpus: 2.5, // the pod's quota, two levels up
			counter: "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/pod1/cri-c1/cpu.stat",
			advance: func(used float64) string {
				return "usage_usec " + strconv.FormatInt(7_000_000+int64(used*1e6), 10) + "\nuser_usec 1\n"
			},
			load: 360,
		},
		{
			tree: "cgroup2-quota-above", numCPU: 8, source: "cgroup2", cpus: 1.5, // the mount's top, above the leaf's 4
			counter: "/sys/fs/cgroup/app/worker/cpu.stat",
			advance: func(used float64) string { return "usage_usec " + strconv.FormatInt(1000+int64(used*1e6), 10) },
			load:    600,
		},
		{
			tree: "cgroup2-namespace", numCPU: 64, source: "cgroup2", cpus: 2, // quota 2 < cpuset 16
			counter: "/sys/fs/cgroup/cpu.stat",
			advance: func(used float64) string { return "usage_usec " + strconv.FormatInt(42+int64(used*1e6), 10) },
			load:    450,
		},
		{
			tree: "hybrid", numCPU: 2, source: "cgroup1", cpus: 2, // this machine's layout: v1 holds the cpu controller
			counter: "/sys/fs/cgroup/cpuacct/cpuacct.usage",
			advance: func(used float64) string { return strconv.FormatInt(88044932854+int64(used*1e9), 10) },
			load:    450,
		},
		{
			tree: "host", numCPU: 4, source: "host", cpus: 0,
			counter: "/proc/stat",
			// 100 jiffies a CPU-second over 4 CPUs: used busy, the rest idle.
			advance: func(used float64) string {
				busy := int64(used * 100)
				return "cpu  " + strconv.FormatInt(4705+busy, 10) + " 356 584 " + strconv.FormatInt(3699+400-busy, 10) + " 23 23 0 0 0 0\n"
			},
			load: 225,
		},
	} {
		t.Run(tc.tree, func(t *testing.T) {
			root := tree(t, tc.tree)
			e := env{root: root, numCPU: tc.numCPU}
			r, err := detect(CPU, e, 0)
			require.NoError(t, err)
			assert.Equal(t, tc.source, r.name())
			if c, ok := r.(interface{ cpus() float64 }); ok {
				assert.InDelta(t, tc.cpus, c.cpus(), 1e-9, "CPUs")
			}
			b0, c0, err := r.read(0)
			require.NoError(t, err)
			write(t, root, tc.counter, tc.advance(0.9))
			b1, c1, err := r.read(int64(time.Second))
			require.NoError(t, err)
			got, ok := permille(b0, c0, b1, c1)
			require.True(t, ok)
			assert.InDelta(t, tc.load, got, 1, "load after 0.9 CPU-seconds in 1 s")
		})
	}
}

// TestFixtureQuotaChange: a quota changed at run time applies from the
// next reading.
func TestFixtureQuotaChange(t *testing.T) {
	root := tree(t, "cgroup2-namespace")
	r, err := detect(CPU, env{root: root, numCPU: 64}, 0)
	require.NoError(t, err)
	write(t, root, "/sys/fs/cgroup/cpu.max", "50000 100000")
	b0, c0, err := r.read(0)
	require.NoError(t, err)
	write(t, root, "/sys/fs/cgroup/cpu.stat", "usage_usec "+strconv.Itoa(42+250_000))
	b1, c1, err := r.read(int64(time.Second))
	require.NoError(t, err)
	got, _ := permille(b0, c0, b1, c1)
	assert.Equal(t, int64(500), got, "0.25 CPU-seconds of half a CPU")
}

func TestFixturePressure(t *testing.T) {
	for _, tc := range []struct {
		tree, source, file string
		base               int64
	}{
		{"cgroup2-nested", "psi-cgroup2", "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/pod1/cri-c1/cpu.pressure", 300000},
		{"hybrid", "psi-cgroup2", "/sys/fs/cgroup/unified/cpu.pressure", 13941920},
		{"host", "psi-host", "/proc/pressure/cpu", 5},
	} {
		t.Run(tc.tree, func(t *testing.T) {
			root := tree(t, tc.tree)
			r, err := detect(Pressure, env{root: root, numCPU: 4}, 0)
			require.NoError(t, err)
			assert.Equal(t, tc.source, r.name())
			b0, c0, err := r.read(0)
			require.NoError(t, err)
			// 300 ms of stall in 1 s.
			write(t, root, tc.file, "some avg10=0 avg60=0 avg300=0 total="+strconv.FormatInt(tc.base+300_000, 10)+"\n")
			b1, c1, err := r.read(int64(time.Second))
			require.NoError(t, err)
			got, _ := permille(b0, c0, b1, c1)
			assert.Equal(t, int64(300), got)
		})
	}
}

// Behaviour 5, at the source: no readable signal is an error naming what
// was tried, never a silent 0.
func TestFixtureNoSignal(t *testing.T) {
	for _, sig := range []Signal{CPU, Pressure} {
		_, err := detect(sig, env{root: tree(t, "empty"), numCPU: 4}, 0)
		require.Error(t, err)
		assert.True(t, errors.Is(err, ErrNoSignal))
		assert.Contains(t, err.Error(), "/proc/self/cgroup")
		t.Logf("%v: %v", sig, err)
	}
	// A cgroup tree whose usage file holds garbage falls through to the host.
	root := tree(t, "cgroup1")
	write(t, root, "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage", "garbage")
	r, err := detect(CPU, env{root: root, numCPU: 4}, 0)
	require.NoError(t, err)
	assert.Equal(t, "host", r.name())
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		root, point, cg, want string
	}{
		{"/", "/sys/fs/cgroup", "/a/b", "/sys/fs/cgroup/a/b"},
		{"/", "/sys/fs/cgroup", "/", "/sys/fs/cgroup"},
		{"/kubepods/pod1/c1", "/sys/fs/cgroup", "/kubepods/pod1/c1", "/sys/fs/cgroup"},     // own subtree bind-mounted
		{"/kubepods/pod1/c1", "/sys/fs/cgroup", "/kubepods/pod1/c1/x", "/sys/fs/cgroup/x"}, // below it
		{"/kubepods/pod1/c1", "/sys/fs/cgroup", "/other", "/sys/fs/cgroup"},                // outside the mount
		{"/kubepods/pod1", "/sys/fs/cgroup", "/kubepods/pod10", "/sys/fs/cgroup"},          // a prefix, not a parent
		{"/", "/sys/fs/cgroup", "/../../x", "/sys/fs/cgroup"},                              // outside the namespace
	} {
		got := within(mount{root: tc.root, point: tc.point}, tc.cg)
		assert.Equal(t, tc.want, got, "within(root %q at %q, %q)", tc.root, tc.point, tc.cg)
	}
}
