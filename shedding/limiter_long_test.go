//go:build !race

package shedding_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Behaviour 3: the flood goes on for 10 minutes. Goodput stays >= 90% of C
// in every 10 s window and the limit does not drift: from 5 s in, it stays
// between 0.75 W and 1.5 W. It plays 1.8 million calls per seed, too many
// for the race detector: make test runs it in its pass without -race.
func TestLimiterLongIncident(t *testing.T) {
	forLimSeeds(t, func(t *testing.T, seed uint64) {
		s, l := newLimitedSim(t, seed)
		s.from = 5
		s.run(limLoad(10*time.Minute, 3*simC))
		tot := s.totals(5, 600)
		worst := simC
		for i := 0; i+10 <= 600; i += 10 {
			w := s.totals(i, i+10)
			worst = min(worst, float64(w.goodput())/10)
			assert.GreaterOrEqual(t, float64(w.goodput())/10, 0.9*simC, "goodput in seconds %d-%d", i, i+10)
		}
		t.Logf("goodput %.1f%% of C (worst 10 s: %.1f%%), p99 %v, wasted %d, limit %d..%d, probing %.2f%% of the time, %+v",
			100*float64(tot.goodput())/595/simC, 100*worst/simC, s.lat.quantile(0.99), tot.wasted, tot.minLimit, tot.maxLimit, float64(tot.probing)/595, l.Stats())
		assert.Less(t, float64(tot.probing)/595, 2.0, "percent of the time spent probing")
		for i := 5; i < 600; i++ {
			sc := s.secs[i]
			if float64(sc.minLimit) < 0.75*simW || float64(sc.maxLimit) > 1.5*simW {
				t.Errorf("second %d: limit %d..%d outside [%v, %v]", i, sc.minLimit, sc.maxLimit, 0.75*simW, 1.5*simW)
			}
		}
		assert.Equal(t, 0, tot.wasted)
	})
}
