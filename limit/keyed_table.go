package limit

// table is the key table of one shard: open addressing with linear probing
// over slots holding a key's 64-bit hash beside a pointer to its state, so
// a lookup for a known key reads one slot, most often one cache line (a Go
// map reads its control word and then the slot, two). Deletion shifts the
// following slots back, so there are no tombstones and a lookup stops at
// the first empty slot. It is guarded by its shard's lock.
type table[S any] struct {
	slots []slot[S] // len a power of 2, or 0
	n     int       // slots in use
	pos   int       // where the next sample starts
}

type slot[S any] struct {
	h  uint64
	st *S // nil: empty
}

// minSlots is the size of a table's first allocation.
const minSlots = 8

// home is the slot where the key of hash h belongs. The shard is picked
// from the top bits of h, the slot from the low bits.
func (t *table[S]) home(h uint64) int { return int(h & uint64(len(t.slots)-1)) }

// get returns the state of the key of hash h, or nil.
func (t *table[S]) get(h uint64) *S {
	if len(t.slots) == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.st == nil {
			return nil
		}
		if sl.h == h {
			return sl.st
		}
	}
}

// put adds the key of hash h, which must be missing, with state st.
func (t *table[S]) put(h uint64, st *S) {
	if (t.n+1)*8 > len(t.slots)*7 { // load at most 7/8
		t.grow()
	}
	t.place(h, st)
	t.n++
}

func (t *table[S]) place(h uint64, st *S) {
	mask := len(t.slots) - 1
	i := t.home(h)
	for t.slots[i].st != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = slot[S]{h: h, st: st}
}

func (t *table[S]) grow() {
	old := t.slots
	t.slots = make([]slot[S], max(2*len(old), minSlots))
	for _, sl := range old {
		if sl.st != nil {
			t.place(sl.h, sl.st)
		}
	}
}

// del empties slot i and moves back the slots after it that a lookup could
// no longer reach.
func (t *table[S]) del(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].st != nil; j = (j + 1) & mask {
		// The slot at j may move to i if its home is not in (i, j]
		// cyclically.
		k := t.home(t.slots[j].h)
		if (j > i && (k <= i || k > j)) || (j < i && k <= i && k > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot[S]{}
	t.n--
}
