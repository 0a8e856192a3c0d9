package rediscache

import (
	"testing"

	"go.uber.org/goleak"
)

// go-zero starts goroutines when its packages are imported (a signal
// handler and a CPU sampler) and one per cache Stat, and never stops them;
// they are the peer's, not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/proc.init.1.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/stat.init.1.func1"),
		goleak.IgnoreAnyFunction("github.com/zeromicro/go-zero/core/stores/cache.NewStat.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/collection.(*TimingWheel).run"),
	)
}
