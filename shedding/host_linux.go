//go:build linux

package shedding

import "fmt"

// host reads the busy share of all CPUs from /proc/stat: on Linux the host
// source needs no dependency.
type host struct {
	e env
}

func newHost(e env) (reader, error) { return &host{e: e}, nil }

func (r *host) name() string { return "host" }

func (r *host) read(int64) (float64, float64, error) {
	data, err := r.e.readFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	busy, total, err := parseProcStat(data)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/stat: %w", err)
	}
	return float64(busy), float64(total), nil
}
