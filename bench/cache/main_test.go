package cache

import (
	"testing"

	"go.uber.org/goleak"
)

// The peers below start goroutines they never stop (go-zero's timing wheel
// and stats logger, its import-time signal handler and CPU sampler,
// golang-lru's expirable janitor); they are the peers', not levee's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/proc.init.1.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/stat.init.1.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/collection.(*TimingWheel).run"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/collection.(*cacheStat).statLoop"),
		goleak.IgnoreTopFunction("github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...].func1"),
		goleak.IgnoreAnyFunction("github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...].func1"),
	)
}
