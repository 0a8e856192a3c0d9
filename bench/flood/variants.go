package flood

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	_ "unsafe" // go:linkname to go-zero's overload check

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	zbreaker "github.com/zeromicro/go-zero/core/breaker"
	"github.com/zeromicro/go-zero/core/load"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/levee-go/levee/breaker"
)

var discardLog = log.New(io.Discard, "", 0)

// Positions of a guard.
const (
	PosNone          = "none"
	PosClientBreaker = "client: breaker"
	PosClientLimit   = "client: limit"
	PosClientBoth    = "client: limit+breaker"
	PosServerShedder = "server: shedder"
	PosEverywhere    = "client+server"
)

// Variant is one protection of the service and its backend.
type Variant struct {
	Name     string
	Position string
	Levee    bool   // levee's own (or none)
	Fair     string // how the guard is configured, for the output

	// client wraps the client's base transport (nil: unchanged).
	client func(base http.RoundTripper) (http.RoundTripper, error)
	// server builds the guard in front of the backend (nil: none).
	server func(utilization func() int64) (guard func(http.Handler) http.Handler, closeFn func(), err error)
}

var variants = []Variant{
	{Name: "unprotected", Position: PosNone, Fair: "the client and backend alone"},
	{Name: "levee-breaker", Position: PosClientBreaker, Levee: true,
		Fair:   "breaker.Transport, defaults; 5xx, 429 and timeouts are failures",
		client: leveeBreaker},
	{Name: "gozero-breaker", Position: PosClientBreaker,
		Fair:   "core/breaker around the transport, defaults; same failures as levee's",
		client: gozeroBreaker},
	{Name: "failsafe-limit", Position: PosClientLimit,
		Fair:   "adaptivelimiter defaults through failsafehttp.NewRoundTripper",
		client: failsafeLimit},
	{Name: "gozero-shedder", Position: PosServerShedder,
		Fair:   "core/load adaptive shedder, defaults; its overload check reads the node's busy workers (threshold 900‰)",
		server: gozeroShedder},
}

// VariantNames lists the variants in their default order.
func VariantNames() []string {
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.Name
	}
	return names
}

func variantByName(name string) (Variant, bool) {
	for _, v := range variants {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}

// isRejection reports whether err is a client-side guard's refusal:
// the request never reached the network.
func isRejection(err error) bool {
	return errors.Is(err, breaker.ErrServiceUnavailable) ||
		errors.Is(err, zbreaker.ErrServiceUnavailable) ||
		errors.Is(err, adaptivelimiter.ErrExceeded) ||
		isLeveeLimitRejection(err)
}

func leveeBreaker(base http.RoundTripper) (http.RoundTripper, error) {
	return breaker.NewTransport(base)
}

// gozeroTransport is go-zero's breaker in the position of levee's
// breaker.Transport: one breaker for the node, the same outcomes (a
// transport error other than the caller's cancellation, 5xx and 429 are
// failures).
type gozeroTransport struct {
	base http.RoundTripper
	brk  zbreaker.Breaker
}

func gozeroBreaker(base http.RoundTripper) (http.RoundTripper, error) {
	logx.Disable()
	return &gozeroTransport{base: base, brk: zbreaker.NewBreaker()}, nil
}

func (t *gozeroTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p, err := t.brk.Allow()
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("flood: go-zero breaker: %w", err)
	}
	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil:
		if !errors.Is(req.Context().Err(), context.Canceled) {
			p.Reject(err.Error())
		}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		p.Reject(strconv.Itoa(resp.StatusCode))
	default:
		p.Accept()
	}
	return resp, err
}

func failsafeLimit(base http.RoundTripper) (http.RoundTripper, error) {
	return failsafehttp.NewRoundTripper(base, adaptivelimiter.NewBuilder[*http.Response]().Build()), nil
}

// gozeroShedder mirrors go-zero's rest SheddingHandler: 503 when the
// shedder drops, Fail on a 503 answer, Pass on anything else.
func gozeroShedder(utilization func() int64) (func(http.Handler) http.Handler, func(), error) {
	logx.Disable()
	load.DisableLog()
	// go-zero's shedder has no option for the overload signal: point its
	// package's check at the node's utilization, as its own tests do.
	// Each variant runs in its own process, so this global is ours.
	gozeroOverloaded = func(threshold int64) bool { return utilization() >= threshold }
	shedder := load.NewAdaptiveShedder()
	guard := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := shedder.Allow()
			if err != nil {
				writeError(w, http.StatusServiceUnavailable, "shed", "dropped by go-zero's shedder")
				return
			}
			cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
			defer func() {
				if cw.code == http.StatusServiceUnavailable {
					p.Fail()
				} else {
					p.Pass()
				}
			}()
			next.ServeHTTP(cw, r)
		})
	}
	return guard, func() {}, nil
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// gozeroOverloaded is go-zero's core/load.systemOverloadChecker, the CPU
// check of its adaptive shedder.
//
//go:linkname gozeroOverloaded github.com/zeromicro/go-zero/core/load.systemOverloadChecker
var gozeroOverloaded func(cpuThreshold int64) bool
