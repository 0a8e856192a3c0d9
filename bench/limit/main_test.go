package limit

import (
	"testing"

	"go.uber.org/goleak"
)

// go-zero starts goroutines when its packages are imported (a signal
// handler, a CPU sampler) and its TokenLimiter one that pings Redis until
// it answers; ulule's memory store runs a cleaner until the garbage
// collector finalizes the store. They are the peers', not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/proc.init.1.func1"),
		goleak.IgnoreTopFunction("github.com/zeromicro/go-zero/core/stat.init.1.func1"),
		goleak.IgnoreAnyFunction("github.com/zeromicro/go-zero/core/limit.(*TokenLimiter).waitForRedis"),
		goleak.IgnoreAnyFunction("github.com/ulule/limiter/v3/drivers/store/memory.(*cleaner).Run"),
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	)
}
