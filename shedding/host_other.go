//go:build !linux

package shedding

import (
	"errors"

	"github.com/shirou/gopsutil/v3/cpu"
)

// host reads the busy share of all CPUs through gopsutil, on systems
// without cgroups (macOS, Windows, the BSDs). It is the only user of
// gopsutil, which Linux builds do not link.
type host struct{}

func newHost(env) (reader, error) { return host{}, nil }

func (host) name() string { return "host" }

func (host) read(int64) (float64, float64, error) {
	ts, err := cpu.Times(false)
	if err != nil {
		return 0, 0, err
	}
	if len(ts) == 0 {
		return 0, 0, errors.New("gopsutil: no cpu times")
	}
	t := ts[0]
	idle := t.Idle + t.Iowait
	total := t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	if !(total > 0) {
		return 0, 0, errors.New("gopsutil: cpu times are all 0")
	}
	return total - idle, total, nil
}
