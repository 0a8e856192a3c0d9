package shedding

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestThisMachine reports which sources levee finds where the tests run,
// and checks that the CPU one reads a plausible load.
func TestThisMachine(t *testing.T) {
	for _, sig := range []Signal{CPU, Pressure} {
		r, err := detect(sig, hostEnv("/"), 0)
		if err != nil {
			t.Logf("%v: %v", sig, err)
			continue
		}
		t.Logf("%v: source %s", sig, r.name())
		if c, ok := r.(interface{ cpus() float64 }); ok {
			t.Logf("%v: %.2f CPUs", sig, c.cpus())
		}
	}
	r, err := detect(CPU, hostEnv("/"), 0)
	require.NoError(t, err, "every Linux machine has /proc/stat at least")
	b0, c0, err := r.read(0)
	require.NoError(t, err)
	start := time.Now()
	for time.Since(start) < 50*time.Millisecond {
	}
	b1, c1, err := r.read(int64(time.Since(start)))
	require.NoError(t, err)
	p, ok := permille(b0, c0, b1, c1)
	assert.True(t, ok)
	t.Logf("load over a 50 ms busy loop: %d‰", p)
	assert.Greater(t, p, int64(0), "a busy loop must show")
}

// Behaviour 5: no signal. Where no built-in source can be read, New
// refuses with an error matching ErrNoSignal and naming what it tried,
// rather than running on a silent 0; a LoadSource of the user's makes the
// same configuration work, without a sampler.
func TestNoSignal(t *testing.T) {
	empty := tree(t, "empty")
	for sig, tried := range map[Signal]string{CPU: "/proc/stat", Pressure: "/proc/pressure/cpu"} {
		s, err := New(withRoot(empty), WithSignal(sig))
		require.Error(t, err)
		assert.Nil(t, s)
		assert.ErrorIs(t, err, ErrNoSignal)
		assert.Contains(t, err.Error(), "/proc/self/cgroup")
		assert.Contains(t, err.Error(), tried)
	}
	// No pressure on a host whose kernel lacks PSI, though its CPU reads.
	host := tree(t, "host")
	require.NoError(t, os.Remove(filepath.Join(host, "proc", "pressure", "cpu")))
	_, err := New(withRoot(host), WithSignal(Pressure))
	assert.ErrorIs(t, err, ErrNoSignal)
	s, err := New(withRoot(host))
	require.NoError(t, err)
	assert.Equal(t, "host", s.Stats().Source)
	require.NoError(t, s.Close())

	s, err = New(withRoot(empty), WithLoadSource(LoadFunc(func() int64 { return 950 })))
	require.NoError(t, err)
	assert.Nil(t, s.sampler)
	assert.Equal(t, "custom", s.Stats().Source)
	assert.Equal(t, int64(950), s.Stats().Load)
	require.NoError(t, s.Close())
}

func samplerCount() int {
	samplers.mu.Lock()
	defer samplers.mu.Unlock()
	return len(samplers.m)
}

// The sampler starts with the first shedder that needs it, is shared by
// shedders with the same signal and sampling, and stops when the last is
// closed (goleak checks that it is gone); Close is idempotent.
func TestSamplerLifecycle(t *testing.T) {
	require.Equal(t, 0, samplerCount(), "importing starts nothing")
	root := tree(t, "cgroup2-namespace")
	a, err := New(withRoot(root), WithSampleInterval(MinSampleInterval), WithLoadSmoothing(0))
	require.NoError(t, err)
	b, err := New(withRoot(root), WithSampleInterval(MinSampleInterval), WithLoadSmoothing(0))
	require.NoError(t, err)
	assert.Same(t, a.sampler, b.sampler)
	c, err := New(withRoot(root), WithSampleInterval(20*time.Millisecond))
	require.NoError(t, err)
	assert.NotSame(t, a.sampler, c.sampler)
	assert.Equal(t, 2, samplerCount())
	assert.Equal(t, "cgroup2", a.Stats().Source)

	// The sampler reads the counter: 2 CPUs, usage growing at 1.5 CPU.
	deadline := time.Now().Add(5 * time.Second)
	start := time.Now()
	l := a.sampler.load.Load()
	for ; (l < 500 || l > 1000) && time.Now().Before(deadline); l = a.sampler.load.Load() {
		usec := 42 + int64(time.Since(start)/time.Microsecond)*3/2
		write(t, root, "/sys/fs/cgroup/cpu.stat", "usage_usec "+strconv.FormatInt(usec, 10))
		time.Sleep(2 * time.Millisecond)
	}
	assert.InDelta(t, 750, l, 250, "load of 1.5 of 2 CPUs")

	require.NoError(t, a.Close())
	require.NoError(t, a.Close())
	assert.Equal(t, 2, samplerCount())
	require.NoError(t, b.Close())
	assert.Equal(t, 1, samplerCount())
	require.NoError(t, c.Close())
	assert.Equal(t, 0, samplerCount())
	// A closed shedder admits everything.
	_, err = a.Allow(Sheddable)
	assert.NoError(t, err)
}

// A source that fails after the start keeps the last load and falls to the
// next source of the chain.
func TestSamplerFallsThrough(t *testing.T) {
	root := tree(t, "cgroup1")
	s, err := New(withRoot(root), WithSampleInterval(MinSampleInterval))
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, "cgroup1", s.Stats().Source)
	require.NoError(t, os.Remove(filepath.Join(root, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage")))
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Source != "host" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, "host", s.Stats().Source)
	assert.Positive(t, s.sampler.errors.Load())
}
