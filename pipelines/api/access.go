package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/orderflow/orderflow/internal/auth"
)

// Rate limits per caller unless WithAuth says otherwise: a steady 50 requests a second with
// bursts of 100.
const (
	DefaultRate  = 50
	DefaultBurst = 100
)

// WithAuth makes every endpoint but /healthz and /readyz require a bearer token a accepts, with
// the scope the endpoint needs (see package auth), and limits each caller to perSecond requests
// (burst) with 429 and Retry-After beyond it. Without it the API is open: runner allows that only
// on a loopback address.
func WithAuth(a auth.Authenticator, perSecond float64, burst int) Option {
	return func(s *Server) {
		s.auth = a
		if perSecond <= 0 {
			perSecond, burst = DefaultRate, DefaultBurst
		}
		s.limits = &limiter{rate: rate.Limit(perSecond), burst: max(1, burst), callers: map[string]*caller{}}
	}
}

// DefaultMaxLongPolls is how many requests may wait on an order's status (wait_for) at once unless
// WithMaxLongPolls says otherwise: each holds a goroutine, a connection and a watch of the status
// view for up to its timeout, which a thousand cost little.
const DefaultMaxLongPolls = 1024

// LongPollRetryAfter is the Retry-After of a long poll refused at the cap: long polls end all
// the time (their timeout is at most a minute), so a slot is soon free.
const LongPollRetryAfter = time.Second

// WithMaxLongPolls caps the requests waiting on an order's status (wait_for) at once at n (0 or
// less: DefaultMaxLongPolls). One that would wait beyond the cap is answered 503 with Retry-After
// and a JSON error at once; a request without wait_for, or whose order already has the status it
// asks for, never waits and is never refused by the cap.
func WithMaxLongPolls(n int) Option {
	return func(s *Server) {
		if n <= 0 {
			n = DefaultMaxLongPolls
		}
		s.longPolls = newLongPolls(n)
	}
}

// longPolls counts the requests waiting on a status change. Keeps: one token per waiting request,
// at most its capacity, and how many were refused at the cap.
type longPolls struct {
	slots   chan struct{}
	refused atomic.Int64
}

func newLongPolls(n int) *longPolls { return &longPolls{slots: make(chan struct{}, n)} }

// tryStart takes a slot and returns true, or returns false at once when every slot is taken.
func (l *longPolls) tryStart() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		l.refused.Add(1)
		return false
	}
}

// WithMetrics registers the API's gauges with reg: the long polls waiting and the cap, and a
// counter of those refused at the cap (an operator sees the cap reached before callers report
// 503s).
func WithMetrics(reg prometheus.Registerer) Option {
	return func(s *Server) { s.metrics = reg }
}

func (s *Server) registerMetrics() {
	if s.metrics == nil {
		return
	}
	lp := s.longPolls
	s.metrics.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orderflow_api_long_polls_waiting",
			Help: "Requests waiting on an order's status (wait_for) now."}, func() float64 { return float64(len(lp.slots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orderflow_api_long_polls_max",
			Help: "How many requests may wait on an order's status at once (--max-long-polls)."}, func() float64 { return float64(lp.capacity()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "orderflow_api_long_polls_refused_total",
			Help: "Requests answered 503 because the long-poll cap was reached."}, func() float64 { return float64(lp.refused.Load()) }))
}

// done gives back the slot of a finished wait.
func (l *longPolls) done() { <-l.slots }

// capacity is the cap: how many may wait at once.
func (l *longPolls) capacity() int { return cap(l.slots) }

type principalKey struct{}

// anonymous is the caller of an API without authentication (a loopback development setup).
var anonymous = auth.Principal{ID: "anonymous", Scopes: []string{auth.ScopeCustomer, auth.ScopeOperations}}

func principal(r *http.Request) auth.Principal {
	if p, ok := r.Context().Value(principalKey{}).(auth.Principal); ok {
		return p
	}
	return anonymous
}

// authenticate identifies the caller (401 without a valid token), applies its rate limit (429)
// and hands the Principal to the handlers, which check scopes.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.auth == nil || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		p, err := auth.FromRequest(s.auth, r)
		if err != nil {
			slog.Info("api: request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="orderflow"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer <token>)")
			return
		}
		if wait := s.limits.reserve(p.ID, p.Rate); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, http.StatusTooManyRequests, "rate limit of this caller exceeded; retry later")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// allow answers 403 and returns false unless the caller holds one of scopes.
func allow(w http.ResponseWriter, r *http.Request, scopes ...string) bool {
	p := principal(r)
	for _, sc := range scopes {
		if p.Can(sc) {
			return true
		}
	}
	writeError(w, http.StatusForbidden, "this token lacks the scope this endpoint needs")
	return false
}

// ownsOrder reports whether the caller may see an order of customer: operations see every order,
// a customer token the orders of its customer.
func ownsOrder(r *http.Request, customer string) bool {
	p := principal(r)
	return p.Can(auth.ScopeOperations) || (p.Can(auth.ScopeCustomer) && customer == p.Customer)
}

// RequireOperations guards h (e.g. /metrics, profiles) as WithAuth guards the API (401 without
// a valid token), asking for the operations scope (403); with a nil authenticator it returns h.
func RequireOperations(a auth.Authenticator, h http.Handler) http.Handler {
	if a == nil {
		return h
	}
	guard := &Server{auth: a}
	return guard.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow(w, r, auth.ScopeOperations) {
			h.ServeHTTP(w, r)
		}
	}))
}

// limiter keeps a token bucket per caller; a caller idle for ten minutes is forgotten, so the
// map holds the callers of the last minutes, not every caller ever seen.
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	callers map[string]*caller
	swept   time.Time
}

type caller struct {
	l    *rate.Limiter
	seen time.Time
}

// reserve takes a token for id (allowed perSecond requests, bursts of twice that; 0: the
// limiter's default) and returns 0, or how long until one is available (nothing taken).
func (l *limiter) reserve(id string, perSecond float64) time.Duration {
	if l == nil {
		return 0
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, c := range l.callers {
			if now.Sub(c.seen) > 10*time.Minute {
				delete(l.callers, k)
			}
		}
		l.swept = now
	}
	c := l.callers[id]
	if c == nil {
		r, burst := l.rate, l.burst
		if perSecond > 0 {
			r, burst = rate.Limit(perSecond), max(1, int(2*perSecond))
		}
		c = &caller{l: rate.NewLimiter(r, burst)}
		l.callers[id] = c
	}
	c.seen = now
	res := c.l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// internalError answers a 5xx with a generic message and a request id; the details go to the log
// under that id, never to the caller.
func internalError(w http.ResponseWriter, r *http.Request, code int, what string, err error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	slog.Error("api: "+what, "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("X-Request-Id", id)
	writeJSON(w, code, map[string]string{"error": what, "request_id": id})
}
