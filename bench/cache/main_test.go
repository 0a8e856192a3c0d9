package cache

import (
	"testing"

	"github.com/zeromicro/go-zero/core/logx"
	"go.uber.org/goleak"
)

// The peers below start goroutines they never stop (go-zero's timing wheel
// and stats logger, its import-time signal handler and CPU sampler,
// golang-lru's expirable janitor); they are the peers', not levee's.
func TestMain(m *testing.M) {
	// go-zero's cache logs its statistics every minute, into the middle of
	// benchmark result lines.
	logx.Disable()
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/proc.init.1.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/stat.init.1.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/collection.(*TimingWheel).run"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/collection.(*cacheStat).statLoop"),
		goleak.IgnoreTopFunction("github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...].func1"),
		goleak.IgnoreAnyFunction("github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...].func1"),
	)
}
