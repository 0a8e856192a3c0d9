package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// go-zero starts these goroutines when its packages are imported and
// never stops them; they are the peer's, not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/proc.init.1.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/stat.init.1.func1"),
	)
}

func TestParse(t *testing.T) {
	cfg, err := parse(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 3.0, cfg.FloodFactor)
	assert.Len(t, cfg.Variants, 9)

	cfg, err = parse([]string{"-variants", " unprotected, levee-all ", "-flood", "2s", "-backend", "admission", "-out", "/tmp/x"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"unprotected", "levee-all"}, cfg.Variants)
	assert.Equal(t, 2*time.Second, cfg.Flood)
	assert.Equal(t, "admission", cfg.Backend)
	assert.Equal(t, "/tmp/x", cfg.Out)

	bad := []struct {
		args []string
		want []string
	}{
		{[]string{"-flood-factor", "0"}, []string{"-flood-factor", "greater than 0"}},
		{[]string{"-flood-factor", "-2"}, []string{"-flood-factor"}},
		{[]string{"-flood", "500ms"}, []string{"-flood", "between 1s and 10m0s", "500ms"}},
		{[]string{"-before", "0s"}, []string{"-before"}},
		{[]string{"-after", "999ms"}, []string{"-after"}},
		{[]string{"-backend", "opensearch"}, []string{"-backend", "unbounded, admission", "opensearch"}},
		{[]string{"-variants", "levee,unprotected"}, []string{"-variants", `"levee"`, "levee-breaker", "failsafe-limit"}},
		{[]string{"-variants", ","}, []string{"-variants"}},
		{[]string{"-timeout", "soon"}, []string{"-timeout"}},
		{[]string{"-capacity", "0"}, []string{"-capacity"}},
		{[]string{"stray"}, []string{"stray"}},
		{[]string{"-nope"}, []string{"-nope"}},
	}
	for _, tt := range bad {
		_, err := parse(tt.args, io.Discard)
		if !assert.Error(t, err, "%v", tt.args) {
			continue
		}
		for _, w := range tt.want {
			assert.Contains(t, err.Error(), w, "%v", tt.args)
		}
	}
}
