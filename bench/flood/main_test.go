package flood

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// go-zero starts these goroutines when its packages are imported (a
// signal handler and a CPU sampler) and never stops them; they are the
// peer's, not ours.
//
// The test binary doubles as the child process of [Run]: TestShortFlood
// runs each variant in a copy of it.
func TestMain(m *testing.M) {
	if IsChild() {
		os.Exit(ChildMain())
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/proc.init.1.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/stat.init.1.func1"),
		goleak.IgnoreAnyFunction("github.com/zeromicro/go-zero/core/collection.(*TimingWheel).run"),
		goleak.IgnoreAnyFunction("github.com/zeromicro/go-zero/core/executors.(*PeriodicalExecutor).backgroundFlush.func1"),
	)
}
