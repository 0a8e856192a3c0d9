package limit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

var errNilClock = errors.New("limit: nil Clock")

// ErrWouldExceedDeadline is returned by [TokenBucket.Wait] and
// [TokenBucket.WaitN] when the wait for the tokens would end after the
// context's deadline. The bucket is then left as it was.
var ErrWouldExceedDeadline = errors.New("limit: the wait would outlast the context deadline")

// tokenParams are the settings of a bucket, immutable once published:
// SetRate and SetBurst publish a new value, so a call reads a consistent
// pair with one atomic load.
type tokenParams struct {
	rate     float64
	burst    int
	interval int64 // T: nanoseconds per token
	tau      int64 // burst*T: how far ahead of now the bucket's debt may run
}

func newTokenParams(rate float64, burst int) (*tokenParams, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("limit: rate must be a positive finite number of tokens per second, got %v", rate)
	}
	if rate > MaxRate {
		return nil, fmt.Errorf("limit: rate must be at most %v tokens per second, got %v", float64(MaxRate), rate)
	}
	if burst < 1 || burst > MaxQuota {
		return nil, fmt.Errorf("limit: burst must be between 1 and %d, got %d", MaxQuota, burst)
	}
	interval := math.Round(1e9 / rate)
	if float64(burst)*interval > float64(MaxRefill) {
		return nil, fmt.Errorf("limit: burst %d at %v tokens per second takes longer than %v to refill", burst, rate, MaxRefill)
	}
	return &tokenParams{rate: rate, burst: burst, interval: int64(interval), tau: int64(burst) * int64(interval)}, nil
}

// tokenShared is what a bucket and every key of a [Keyed] made from it
// share: the settings and the time base.
type tokenShared struct {
	params atomic.Pointer[tokenParams]
	tb     timeBase
	// sleep waits for d or until ctx is done; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// TAT (theoretical arrival time) values: a fresh bucket starts "full since
// long ago"; a key evicted from a [Keyed] is marked dead.
const (
	tatFull = -maxTime - 1
	tatDead = math.MaxInt64
)

// TokenBucket is a token-bucket rate limiter: it holds at most burst tokens,
// gains rate tokens per second, and admits a request of cost n when n tokens
// are there. It is implemented as GCRA (the generic cell rate algorithm):
// the whole state is one atomic word, the time at which the bucket will be
// full again, so every call is a load and at most one compare-and-swap, and
// a rejection writes nothing. Nothing allocates.
//
// Times are counted in whole nanoseconds per token, so the rate is exact
// when 1e9/rate is a whole number and rounded to the nearest nanosecond per
// token otherwise (0.05% off at 1e6 per second).
//
// A TokenBucket is safe for concurrent use by multiple goroutines. Make one
// with [NewTokenBucket]; the zero value is not usable.
type TokenBucket struct {
	tat atomic.Int64 // nanoseconds since the origin at which the bucket is full
	s   *tokenShared
}

// NewTokenBucket returns a full bucket of burst tokens that refills at rate
// tokens per second. rate must be positive, finite and at most [MaxRate];
// burst between 1 and [MaxQuota]; an empty bucket may not take longer than
// [MaxRefill] to refill. There is no rate meaning "unlimited" or "closed":
// a zero rate is refused because it is almost always a configuration field
// left unset (x/time/rate reads 0 as "the burst, then nothing" and Inf as
// "no limit"); to not limit, do not install the limiter.
func NewTokenBucket(rate float64, burst int, opts ...TokenBucketOption) (*TokenBucket, error) {
	p, err := newTokenParams(rate, burst)
	if err != nil {
		return nil, err
	}
	var cfg commonConfig
	for _, o := range opts {
		if o != nil {
			o.applyTokenBucket(&cfg)
		}
	}
	tb, err := newTimeBase(cfg)
	if err != nil {
		return nil, err
	}
	s := &tokenShared{tb: tb, sleep: sleepCtx}
	s.params.Store(p)
	b := &TokenBucket{s: s}
	b.tat.Store(tatFull)
	return b, nil
}

// Rate returns the rate in tokens per second.
func (b *TokenBucket) Rate() float64 { return b.s.params.Load().rate }

// Burst returns the burst: the most tokens the bucket holds.
func (b *TokenBucket) Burst() int { return b.s.params.Load().burst }

// SetRate changes the rate, with the same range as [NewTokenBucket]. The
// bucket keeps the tokens it had: what it owes is rescaled to the new rate.
// A bucket made into a [Keyed] shares its settings with every key: SetRate
// on it changes them all, and each key keeps what it owes as a time (at
// most the old refill time), without being rescaled.
func (b *TokenBucket) SetRate(rate float64) error {
	return b.set(func(old *tokenParams) (*tokenParams, error) { return newTokenParams(rate, old.burst) })
}

// SetBurst changes the burst, with the same range as [NewTokenBucket]. The
// bucket keeps the tokens it owes (so a smaller burst can leave it empty
// for a while); see [TokenBucket.SetRate] for the keys of a [Keyed].
func (b *TokenBucket) SetBurst(burst int) error {
	return b.set(func(old *tokenParams) (*tokenParams, error) { return newTokenParams(old.rate, burst) })
}

func (b *TokenBucket) set(make func(*tokenParams) (*tokenParams, error)) error {
	now := b.s.tb.now()
	for {
		old := b.s.params.Load()
		p, err := make(old)
		if err != nil {
			return err
		}
		if !b.s.params.CompareAndSwap(old, p) {
			continue
		}
		if p.interval == old.interval {
			return nil
		}
		for {
			tat := b.tat.Load()
			if tat <= now {
				return nil
			}
			// Tokens owed, (tat-now)/T, stay the same under the new T.
			owed := float64(tat-now) / float64(old.interval) * float64(p.interval)
			next := now + int64(min(owed, float64(maxTime)))
			if b.tat.CompareAndSwap(tat, next) {
				return nil
			}
		}
	}
}

// Allow reports whether one token is available now, and takes it if so.
// It computes nothing beyond the decision: no division, and on a rejection
// no write.
func (b *TokenBucket) Allow() bool {
	p := b.s.params.Load()
	now := b.s.tb.now()
	for {
		old := b.tat.Load()
		next := max(old, now) + p.interval
		if next-now > p.tau {
			return false
		}
		if b.tat.CompareAndSwap(old, next) {
			return true
		}
	}
}

// AllowN takes n tokens at time now if the bucket holds them and reports
// the decision with the bucket's state. n = 0 takes nothing and reports the
// state. An n below 0 or above the burst is an error matching
// [ErrInvalidCost], with a rejected Result whose RetryAfter is [Forever].
func (b *TokenBucket) AllowN(now time.Time, n int) (Result, error) {
	p := b.s.params.Load()
	if err := checkCost(n, p.burst, "burst"); err != nil {
		return never(p.burst, time.Duration(p.tau)), err
	}
	r, _ := allowToken(&b.tat, p, b.s.tb.at(now), n)
	return r, nil
}

func checkCost(n, limit int, what string) error {
	if n < 0 || n > limit {
		return &costError{n: n, limit: limit, what: what}
	}
	return nil
}

// costError is an invalid request cost; it matches ErrInvalidCost.
type costError struct {
	n, limit int
	what     string
}

func (e *costError) Error() string {
	return fmt.Sprintf("limit: request cost must be between 0 and the %s %d, got %d", e.what, e.limit, e.n)
}

func (e *costError) Is(target error) bool { return target == ErrInvalidCost }

func never(limit int, window time.Duration) Result {
	return Result{Limit: limit, RetryAfter: Forever, Window: window}
}

// allowToken is the GCRA decision on the word tat. It returns false as
// second result when tat is marked dead (a key evicted from a Keyed under
// the caller's feet); nothing was taken then.
//
// The bucket owes tat-now nanoseconds of tokens (nothing when tat <= now);
// taking n tokens adds n*T, and is allowed while the debt stays within tau.
func allowToken(tat *atomic.Int64, p *tokenParams, now int64, n int) (Result, bool) {
	inc := int64(n) * p.interval
	for {
		old := tat.Load()
		if old == tatDead {
			return Result{}, false
		}
		base := max(old, now)
		next := base + inc
		if next-now > p.tau {
			return Result{
				Limit:      p.burst,
				Remaining:  int(max(p.tau-(base-now), 0) / p.interval),
				RetryAfter: time.Duration(next - p.tau - now),
				ResetAfter: time.Duration(base - now),
				Window:     time.Duration(p.tau),
			}, true
		}
		if n == 0 || tat.CompareAndSwap(old, next) {
			return Result{
				Allowed:    true,
				Limit:      p.burst,
				Remaining:  int((p.tau - (next - now)) / p.interval),
				ResetAfter: time.Duration(next - now),
				Window:     time.Duration(p.tau),
			}, true
		}
	}
}

// tokenFull reports whether the bucket is full at now: forgetting it then
// loses nothing.
func tokenFull(tat *atomic.Int64, now int64) bool { return tat.Load() <= now }

// Reservation is n tokens taken from a [TokenBucket] ahead of time by
// [TokenBucket.ReserveN]. It is a plain value (returned by value so that
// reserving allocates nothing); cancel it through one variable only.
type Reservation struct {
	b        *TokenBucket
	ok       bool
	canceled bool
	act      int64 // when the tokens are there, ns since the origin
	debt     int64 // n*T at the time of the reservation
	delay    time.Duration
}

// OK reports whether the tokens were reserved.
func (r *Reservation) OK() bool { return r.ok }

// Delay is how long after the reservation's time the caller must wait
// before acting; 0 when the tokens were there at once.
func (r *Reservation) Delay() time.Duration { return r.delay }

// Cancel is CancelAt with the bucket's clock.
func (r *Reservation) Cancel() {
	if r.b != nil {
		r.CancelAt(r.b.s.tb.clock.Now())
	}
}

// CancelAt gives the reserved tokens back, as if they had never been taken,
// when now is before the time they were reserved for; later, they count as
// used and CancelAt does nothing. Later reservations keep their times. A
// second CancelAt, or one of a reservation that is not OK, does nothing.
func (r *Reservation) CancelAt(now time.Time) {
	if !r.ok || r.canceled || r.b == nil {
		return
	}
	r.canceled = true
	if r.b.s.tb.at(now) >= r.act {
		return
	}
	for {
		old := r.b.tat.Load()
		if r.b.tat.CompareAndSwap(old, old-r.debt) {
			return
		}
	}
}

// ReserveN takes n tokens for time now plus the returned Delay, waiting at
// most maxWait: if the tokens would come later than that, nothing is taken
// and the reservation is not OK. A negative maxWait counts as 0. An n below
// 0 or above the burst is an error matching [ErrInvalidCost].
func (b *TokenBucket) ReserveN(now time.Time, n int, maxWait time.Duration) (Reservation, error) {
	p := b.s.params.Load()
	if err := checkCost(n, p.burst, "burst"); err != nil {
		return Reservation{}, err
	}
	return b.reserve(p, b.s.tb.at(now), n, maxWait), nil
}

func (b *TokenBucket) reserve(p *tokenParams, now int64, n int, maxWait time.Duration) Reservation {
	inc := int64(n) * p.interval
	for {
		old := b.tat.Load()
		next := max(old, now) + inc
		act := max(next-p.tau, now)
		delay := time.Duration(act - now)
		if delay > maxWait {
			return Reservation{b: b, delay: delay}
		}
		if b.tat.CompareAndSwap(old, next) {
			return Reservation{b: b, ok: true, act: act, debt: inc, delay: delay}
		}
	}
}

// Wait is WaitN(ctx, 1).
func (b *TokenBucket) Wait(ctx context.Context) error { return b.WaitN(ctx, 1) }

// WaitN blocks until n tokens are there and takes them. It returns at once,
// taking nothing, with ctx.Err() when ctx is already done, and with
// [ErrWouldExceedDeadline] when the tokens would come after ctx's deadline.
// When ctx is done during the wait, it gives the tokens back (see
// [Reservation.CancelAt]) and returns ctx.Err().
//
// The time to act is fixed when WaitN is called: a timer that fires late
// delays this caller only, not the callers after it, and the tokens are
// counted from the time they were due, not from when the timer fired.
func (b *TokenBucket) WaitN(ctx context.Context, n int) error {
	p := b.s.params.Load()
	if err := checkCost(n, p.burst, "burst"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	maxWait := Forever
	if dl, ok := ctx.Deadline(); ok {
		maxWait = time.Until(dl)
	}
	r := b.reserve(p, b.s.tb.now(), n, maxWait)
	if !r.ok {
		return ErrWouldExceedDeadline
	}
	if r.delay == 0 {
		return nil
	}
	if err := b.s.sleep(ctx, r.delay); err != nil {
		r.Cancel()
		return err
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// State reports the bucket at time now without taking anything: AllowN(now, 0).
func (b *TokenBucket) State(now time.Time) Result {
	r, _ := allowToken(&b.tat, b.s.params.Load(), b.s.tb.at(now), 0)
	return r
}
