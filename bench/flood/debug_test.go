package flood

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDebugVariant(t *testing.T) {
	name := os.Getenv("FLOOD_DEBUG")
	if name == "" {
		t.Skip("FLOOD_DEBUG not set")
	}
	cfg := DefaultConfig()
	cfg.Before, cfg.Flood, cfg.After = 2*time.Second, 4*time.Second, 3*time.Second
	for _, n := range strings.Split(name, ",") {
		res, err := RunVariant(context.Background(), cfg, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range res.Series {
			t.Logf("%s %+v", n, s)
		}
		t.Logf("%s before %.2f flood %.2f after %.2f p99 %v rec %v %v", n, res.Before.Goodput, res.Flood.Goodput, res.After.Goodput, res.P99, res.Recovered, res.Recovery)
	}
}
