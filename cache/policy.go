package cache

import "sync/atomic"

// The eviction policy is S3-FIFO (Yang et al., "FIFO queues are all you
// need for cache eviction", SOSP 2023), run by each shard on its share of
// the capacity:
//
//   - a new key enters the small queue S (a tenth of the capacity), unless
//     it is remembered in the ghost queue G, in which case it enters the
//     main queue M directly;
//   - evicting from S: an entry read since it entered (promoteFreq) moves
//     to M, any other entry leaves and its key goes to G;
//   - evicting from M: an entry read since it was last looked at is given
//     another round (its count decremented), any other entry leaves;
//   - an entry past its expiry and grace leaves whatever its count;
//   - G remembers as many keys as M holds entries.
//
// Compared with LRU, a read only bumps a saturating 2-bit counter (no list
// move, so reads need only the shard's read lock), and one-hit wonders
// leave from the small queue before they can push out the working set;
// on Zipf traces its hit ratio is close to W-TinyLFU's.

const (
	maxFreq = 3 // saturation of entry.freq
	inSmall = 1
	inMain  = 2
)

// entry is one key in a shard. Its fields are guarded by the shard's lock
// (read lock for reading), except freq and refreshing, which readers
// update atomically under the read lock.
type entry[K comparable, V any] struct {
	key       K
	value     V
	expire    int64 // cache time at which the entry stops being fresh; never: does not expire
	dead      int64 // cache time at which it stops being served stale; never: with expire
	refreshAt int64 // cache time after which Take refreshes it; never: no refresh
	weight    int64
	notFound  bool  // a remembered ErrNotFound, value is zero
	queue     uint8 // inSmall or inMain; 0 while free

	freq       atomic.Uint32 // reads since it entered its queue or was last given another round, at most maxFreq
	refreshing atomic.Bool   // a background refresh is being started or runs

	prev, next *entry[K, V] // queue links
}

// hit records a read of e. Called under the shard's read lock. The counter
// saturates, so a hot key stops writing its cache line after a few reads
// and cores reading it in parallel do not bounce the line between them.
func (e *entry[K, V]) hit() {
	if f := e.freq.Load(); f < maxFreq {
		e.freq.Store(f + 1)
	}
}

// queue is a doubly linked FIFO of entries: push at the head, evict at
// the tail.
type fifo[K comparable, V any] struct {
	head, tail *entry[K, V]
	weight     int64
	len        int
}

func (q *fifo[K, V]) push(e *entry[K, V]) {
	e.prev, e.next = nil, q.head
	if q.head != nil {
		q.head.prev = e
	} else {
		q.tail = e
	}
	q.head = e
	q.weight += e.weight
	q.len++
}

func (q *fifo[K, V]) remove(e *entry[K, V]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.tail = e.prev
	}
	e.prev, e.next = nil, nil
	q.weight -= e.weight
	q.len--
}

// ghost remembers recently evicted keys, in FIFO order, up to a limit
// that follows the length of the main queue.
type ghost[K comparable] struct {
	m    map[K]uint64 // key -> sequence number of its latest insertion
	ring []ghostSlot[K]
	head int    // index of the oldest slot
	n    int    // slots in use
	seq  uint64 // next sequence number
}

type ghostSlot[K comparable] struct {
	key K
	seq uint64
}

// maxGhost bounds the ghost queue of one shard whatever the capacity.
const maxGhost = 1 << 20

func (g *ghost[K]) add(k K, limit int) {
	limit = min(limit, maxGhost)
	if limit < 1 {
		return
	}
	for g.n >= limit {
		g.pop()
	}
	if g.n == len(g.ring) {
		g.grow(limit)
	}
	if g.m == nil {
		g.m = make(map[K]uint64)
	}
	g.seq++
	g.ring[(g.head+g.n)%len(g.ring)] = ghostSlot[K]{key: k, seq: g.seq}
	g.n++
	g.m[k] = g.seq
}

func (g *ghost[K]) grow(limit int) {
	size := min(max(2*len(g.ring), 16), limit)
	ring := make([]ghostSlot[K], size)
	for i := 0; i < g.n; i++ {
		ring[i] = g.ring[(g.head+i)%len(g.ring)]
	}
	g.ring, g.head = ring, 0
}

func (g *ghost[K]) pop() {
	s := &g.ring[g.head]
	if seq, ok := g.m[s.key]; ok && seq == s.seq {
		delete(g.m, s.key)
	}
	*s = ghostSlot[K]{}
	g.head = (g.head + 1) % len(g.ring)
	g.n--
}

// take reports whether k was in the ghost queue and forgets it there.
func (g *ghost[K]) take(k K) bool {
	if _, ok := g.m[k]; ok {
		delete(g.m, k)
		return true
	}
	return false
}

func (g *ghost[K]) clear() {
	*g = ghost[K]{}
}
