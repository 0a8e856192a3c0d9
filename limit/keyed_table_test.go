package limit

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

func TestShardSize(t *testing.T) {
	if got := unsafe.Sizeof(shard[tokenKey]{}); got != 128 {
		t.Fatalf("shard is %d bytes, want 128", got)
	}
}

// TestTableAgainstMap drives a table and a map with the same random puts,
// deletes and lookups, with hashes crowded into few home slots so that
// probes run long and wrap around, and checks they agree after every step.
func TestTableAgainstMap(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		var tb table[int]
		ref := map[uint64]*int{}
		for step := 0; step < 20_000; step++ {
			// Homes crowd around the end of the slots (1008 to 1023,
			// 0 to 15 for 1,024 slots, alike for fewer): probes run
			// long and wrap around.
			h := r.Uint64N(32)<<10 | (1008+r.Uint64N(32))&1023
			switch r.IntN(3) {
			case 0:
				if ref[h] == nil {
					v := int(h)
					tb.put(h, &v)
					ref[h] = &v
				}
			case 1:
				if ref[h] != nil && tb.n > 0 {
					mask := len(tb.slots) - 1
					i := tb.home(h)
					for tb.slots[i].h != h || tb.slots[i].st == nil {
						i = (i + 1) & mask
					}
					tb.del(i)
					delete(ref, h)
				}
			}
			if got := tb.get(h); got != ref[h] {
				t.Fatalf("seed %d step %d: get(%d) = %v, want %v", seed, step, h, got, ref[h])
			}
			if tb.n != len(ref) {
				t.Fatalf("seed %d step %d: n = %d, want %d", seed, step, tb.n, len(ref))
			}
		}
		for h, v := range ref {
			if tb.get(h) != v {
				t.Fatalf("seed %d: key %d lost", seed, h)
			}
		}
		used := 0
		for _, sl := range tb.slots {
			if sl.st != nil {
				used++
			}
		}
		if used != len(ref) || tb.n*8 > len(tb.slots)*7 {
			t.Fatalf("seed %d: %d slots used of %d, %d keys", seed, used, len(tb.slots), len(ref))
		}
	}
}
