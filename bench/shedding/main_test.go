package shedding

import (
	"testing"

	"go.uber.org/goleak"
)

// go-zero starts these two goroutines when its packages are imported (a
// signal handler and a CPU sampler) and never stops them; they are the
// peer's, not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/proc.init.1.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/stat.init.1.func1"),
		// aegis starts two CPU samplers on import, never stopped.
		goleak.IgnoreTopFunction("github.com/go-kratos/aegis/internal/cpu.init.0.func1"),
		goleak.IgnoreTopFunction("github.com/go-kratos/aegis/ratelimit/bbr.cpuproc"),
	)
}
