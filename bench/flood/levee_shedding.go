package flood

import (
	"errors"
	"net/http"

	"github.com/levee-go/levee/breaker"
	"github.com/levee-go/levee/shedding"
)

func init() {
	// levee's variants go first, each before the peer in its position.
	levee := []Variant{
		{Name: "levee-limit", Position: PosClientLimit, Levee: true,
			Fair:   "shedding.NewTransport, defaults; timeouts are the overload signal",
			client: leveeLimit},
		{Name: "levee-limit-breaker", Position: PosClientBoth, Levee: true,
			Fair:   "shedding.NewTransport around breaker.Transport, defaults",
			client: leveeLimitBreaker},
		{Name: "levee-shedder", Position: PosServerShedder, Levee: true,
			Fair:   "shedding.New + NewMiddleware, defaults; its load source reads the node's busy workers (threshold 900‰)",
			server: leveeShedder},
		{Name: "levee-all", Position: PosEverywhere, Levee: true,
			Fair:   "levee-limit-breaker in the client and levee-shedder in the backend",
			client: leveeLimitBreaker, server: leveeShedder},
	}
	order := []string{"unprotected", "levee-breaker", "gozero-breaker", "levee-limit", "failsafe-limit", "levee-limit-breaker", "levee-shedder", "gozero-shedder", "levee-all"}
	all := append(append([]Variant(nil), variants...), levee...)
	variants = variants[:0]
	for _, name := range order {
		for _, v := range all {
			if v.Name == name {
				variants = append(variants, v)
			}
		}
	}
}

// isLeveeLimitRejection reports whether err is the rejection of levee's
// adaptive concurrency limit.
func isLeveeLimitRejection(err error) bool { return errors.Is(err, shedding.ErrLimited) }

func leveeLimit(base http.RoundTripper) (http.RoundTripper, error) {
	return shedding.NewTransport(base)
}

func leveeLimitBreaker(base http.RoundTripper) (http.RoundTripper, error) {
	b, err := breaker.NewTransport(base)
	if err != nil {
		return nil, err
	}
	return shedding.NewTransport(b)
}

// leveeShedder puts levee's BBR shedder in front of the backend, with the
// node's utilization as its load, the same signal go-zero's shedder gets.
func leveeShedder(utilization func() int64) (func(http.Handler) http.Handler, func(), error) {
	s, err := shedding.New(shedding.WithLoadSource(shedding.LoadFunc(utilization)))
	if err != nil {
		return nil, nil, err
	}
	mw, err := shedding.NewMiddleware(s)
	if err != nil {
		_ = s.Close()
		return nil, nil, err
	}
	return mw, func() { _ = s.Close() }, nil
}
