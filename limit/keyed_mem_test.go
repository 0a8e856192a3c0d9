//go:build !race

package limit

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeyedMemoryPerKey measures the heap a key costs: 100,000 keys of 14
// bytes ("10.001.002.003"), the table included. The table holds a hash of
// each key, not the key, so its length does not matter.
func TestKeyedMemoryPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100,000 keys")
	}
	const n = 100_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%03d.%03d.%03d", i>>16, (i>>8)&255, i&255)
	}
	limits := map[string]int{"token": 50, "fixed": 100, "sliding": 170}
	for name, l := range keyedShapes(t, newFakeClock()) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		k, err := NewKeyed(l, WithMaxKeys(n))
		require.NoError(t, err)
		for _, key := range keys {
			k.Allow(key)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / n
		t.Logf("%s: %.0f bytes per key", name, per)
		assert.Less(t, per, float64(limits[name]), name)
		assert.Equal(t, n, k.Len())
		runtime.KeepAlive(k)
	}
}
