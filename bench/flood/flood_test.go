package flood

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	tests := []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error
	}{
		{"flood factor 0", func(c *Config) { c.FloodFactor = 0 }, []string{"-flood-factor", "greater than 0", "got 0"}},
		{"flood factor negative", func(c *Config) { c.FloodFactor = -1 }, []string{"-flood-factor"}},
		{"flood factor huge", func(c *Config) { c.FloodFactor = 1e9 }, []string{"-flood-factor", "at most 20"}},
		{"before under 1s", func(c *Config) { c.Before = 500 * time.Millisecond }, []string{"-before", "between 1s and 10m0s", "got 500ms"}},
		{"flood under 1s", func(c *Config) { c.Flood = 0 }, []string{"-flood must", "between 1s"}},
		{"after under 1s", func(c *Config) { c.After = -time.Second }, []string{"-after", "got -1s"}},
		{"phase too long", func(c *Config) { c.Flood = time.Hour }, []string{"-flood", "10m0s"}},
		{"unknown backend", func(c *Config) { c.Backend = "elastic" }, []string{"-backend", "unbounded, admission", `"elastic"`}},
		{"unknown variant", func(c *Config) { c.Variants = []string{"unprotected", "hystrix"} }, []string{"-variants", `"hystrix"`, "levee-limit", "gozero-shedder"}},
		{"variant twice", func(c *Config) { c.Variants = []string{"levee-all", "levee-all"} }, []string{"-variants", "twice"}},
		{"no variant", func(c *Config) { c.Variants = nil }, []string{"-variants", "at least one"}},
		{"capacity 0", func(c *Config) { c.Capacity = 0 }, []string{"-capacity", "between 1 and 5000"}},
		{"workers above capacity", func(c *Config) { c.Workers = 500 }, []string{"-workers", "-capacity"}},
		{"timeout tiny", func(c *Config) { c.Timeout = time.Millisecond }, []string{"-timeout", "10ms"}},
		{"cpu work above service", func(c *Config) { c.CPUWork = time.Second }, []string{"-cpu-work"}},
		{"normal 0", func(c *Config) { c.NormalFactor = 0 }, []string{"-normal"}},
		{"normal above capacity", func(c *Config) { c.NormalFactor = 1.5 }, []string{"-normal", "at most 1"}},
		{"queue size 0", func(c *Config) { c.QueueSize = 0 }, []string{"-queue-size"}},
		{"pressure negative", func(c *Config) { c.PressureQueue = -1 }, []string{"-pressure-queue"}},
		{"slowdown below 1", func(c *Config) { c.MaxSlowdown = 0.5 }, []string{"-max-slowdown"}},
		{"parallel 0", func(c *Config) { c.Parallel = 0 }, []string{"-parallel", "between 1 and 16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestRecovery checks the recovery rule on hand-made 100 ms bins.
func TestRecovery(t *testing.T) {
	const bin = 100 * time.Millisecond
	full := func(n int) ([]int, []int) {
		off, ok := make([]int, n), make([]int, n)
		for i := range off {
			off[i], ok[i] = 5, 5
		}
		return off, ok
	}
	off, ok := full(30)
	rec, d := recovery(off, ok, bin)
	assert.True(t, rec)
	assert.Equal(t, time.Duration(0), d, "all answered from the start")

	off, ok = full(30)
	for i := 0; i < 12; i++ {
		ok[i] = 0
	}
	rec, d = recovery(off, ok, bin)
	assert.True(t, rec)
	assert.Equal(t, 1200*time.Millisecond, d, "the first window without a failure starts at 1.2 s")

	off, ok = full(30)
	ok[27] = 0
	rec, _ = recovery(off, ok, bin)
	assert.False(t, rec, "a failing window at the end: not recovered")

	off, ok = full(30)
	for i := range ok {
		ok[i] = 0
	}
	rec, _ = recovery(off, ok, bin)
	assert.False(t, rec)
}

// TestBackendSpeaksElasticsearch drives the backend with the real client
// in admission mode: searches are answered, a full queue answers 429
// es_rejected_execution_exception, unknown paths 404, health is green.
func TestBackendSpeaksElasticsearch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backend, cfg.QueueSize, cfg.Capacity, cfg.Workers, cfg.CPUWork = Admission, 2, 10, 1, 0
	srv, err := StartServer(cfg, 0, nil)
	require.NoError(t, err)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	u, _ := url.Parse(srv.URL)
	tp, err := elastictransport.New(elastictransport.Config{URLs: []*url.URL{u}, Transport: base})
	require.NoError(t, err)
	es := esapi.New(tp)

	res, err := es.Cluster.Health()
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	assert.Contains(t, string(body), `"status":"green"`)
	assert.Equal(t, "Elasticsearch", res.Header.Get("X-Elastic-Product"))

	res, err = es.Indices.Get([]string{"logs"})
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, 404, res.StatusCode)

	// One worker (100 ms a search) and a queue of 2: of 6 concurrent
	// searches, 3 are answered and 3 refused.
	var mu sync.Mutex
	codes := map[int]int{}
	var bodies []string
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := es.Search(es.Search.WithIndex("logs"), es.Search.WithBody(strings.NewReader(searchBody)))
			if !assert.NoError(t, err) {
				return
			}
			b, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			mu.Lock()
			codes[res.StatusCode]++
			bodies = append(bodies, string(b))
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.Equal(t, map[int]int{200: 3, 429: 3}, codes)
	assert.Contains(t, strings.Join(bodies, "\n"), `"type":"es_rejected_execution_exception"`)
	assert.Contains(t, strings.Join(bodies, "\n"), `"hits":{"total"`)
	st := srv.Backend.Stats()
	assert.Equal(t, int64(3), st.Served)
	assert.Equal(t, int64(3), st.Rejected429)
}

// TestShortFlood is the demo in a few seconds: a 3× flood drowns the
// unprotected backend, while the better of levee's limit in the client and
// levee's shedder in the backend keeps it serving and lets it recover. The
// variants run side by side, each on its own backend in its own process
// (a copy of the test binary), as the command runs them.
func TestShortFlood(t *testing.T) {
	if raceEnabled {
		t.Skip("timing figures mean nothing under the race detector, which slows the children's HTTP stacks several times; run without -race")
	}
	cfg := DefaultConfig()
	cfg.CPUWork = 200 * time.Microsecond
	cfg.Before, cfg.Flood, cfg.After = time.Second, 6*time.Second, 2*time.Second
	cfg.Timeout = time.Second
	names := []string{"unprotected", "levee-limit", "levee-shedder"}
	cfg.Variants = names
	cfg.Out = t.TempDir()
	var stdout, stderr strings.Builder
	results, out, err := Run(context.Background(), cfg, &stdout, &stderr)
	t.Log("\n" + stdout.String())
	require.NoError(t, err, stderr.String())
	require.Len(t, results, len(names))
	for _, r := range results {
		t.Logf("%-14s before %3.0f%%  flood %3.0f%%  after %3.0f%%  p99 %v  rejected %d shed %d timed out %d  recovered %v in %v",
			r.Variant, 100*r.Before.Goodput, 100*r.Flood.Goodput, 100*r.After.Goodput, r.P99, r.Rejected, r.Shed, r.TimedOut, r.Recovered, r.Recovery)
	}
	un := results[0]
	best := results[1]
	if results[2].Flood.Goodput > best.Flood.Goodput {
		best = results[2]
	}
	assert.Greater(t, best.Flood.Goodput, 0.4, "%s keeps more than 40%% of the capacity during the flood", best.Variant)
	assert.GreaterOrEqual(t, best.Flood.Goodput, 2*un.Flood.Goodput, "%s: flood goodput at least twice the unprotected one", best.Variant)
	assert.True(t, best.Recovered, "%s recovers before the end of the run", best.Variant)
	assert.GreaterOrEqual(t, best.After.Goodput, 0.7*cfg.NormalFactor, "%s serves the normal load after the flood", best.Variant)
	assert.Less(t, un.After.Goodput, 0.5*cfg.NormalFactor, "the unprotected backend is still drowning after the flood")
	assert.Greater(t, un.WastedPct, 20.0, "the unprotected backend works for callers that have left")

	// The table, the CSV and the chart.
	csv, err := os.ReadFile(out.CSV)
	require.NoError(t, err)
	assert.Equal(t, 1+len(names)*9, strings.Count(string(csv), "\n"), "a header and 9 seconds per variant")
	for _, f := range []string{out.PNG, out.SVG, out.Table, out.JSON} {
		st, err := os.Stat(f)
		require.NoError(t, err)
		assert.Greater(t, st.Size(), int64(500), f)
	}
	assert.Contains(t, stdout.String(), "output directory: "+cfg.Out)
	var table strings.Builder
	WriteTable(&table, cfg, results)
	assert.Contains(t, table.String(), "levee-shedder")
	assert.Len(t, Verdict(cfg, results), 4, "three goals of the best levee variant and the unprotected collapse")
}
