package redislimit

import (
	"testing"

	"github.com/zeromicro/go-zero/core/logx"
	"go.uber.org/goleak"
)

// go-zero starts these two goroutines when its packages are imported (a
// signal handler and a CPU sampler) and never stops them; they are the
// peer's, not ours.
//
// go-zero's Redis client logs every call slower than 100ms to stdout, in
// the middle of the benchmark's result lines on a loaded machine: off.
func TestMain(m *testing.M) {
	logx.Disable()
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/proc.init.1.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/stat.init.1.func1"),
	)
}
