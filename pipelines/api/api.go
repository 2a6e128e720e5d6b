// Package api is orderflow's HTTP API: the order service's front door (orders, stock settings,
// return requests and receipts, erasure of a customer's personal data) and the read side of the
// status, stock and returns views.
//
// Consumes: HTTP requests. Keeps: no data; a token bucket per caller (WithAuth) and a slot per
// request waiting on a status (wait_for, at most WithMaxLongPolls). Emits: writes through
// orders.Store (an order and its outbox event in one transaction) and reads through the views.
// Every error is JSON {"error": "…"} with a 4xx status for bad input; a handler never panics out
// (a recovered panic is a 500 with a message).
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/httpjson"
	"github.com/orderflow/orderflow/internal/tracing"
	"github.com/orderflow/orderflow/pipelines/views"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/schemas"
)

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// DBTimeout bounds each request's work in the database (placing an order, setting stock, looking
// an order up): a stuck database answers 503 instead of holding connections.
const DBTimeout = 5 * time.Second

// Orders is what the API needs of the order store.
type Orders interface {
	Place(ctx context.Context, req orders.NewOrder, idempotencyKey, traceparent string) (orders.Placed, error)
	SetStock(ctx context.Context, sku string, available int64, traceparent string) (string, error)
	// Owner returns the customer of a placed order; found is false for an unknown id.
	Owner(ctx context.Context, orderID string) (customer string, found bool, err error)
	// RequestReturn stores a return request with its outbox event (see orders.Store).
	RequestReturn(ctx context.Context, req orders.ReturnRequest, returned map[string]int64, idempotencyKey, traceparent string) (orders.ReturnAccepted, error)
	// ReceiveReturn records a return's parcel with its outbox event (see orders.Store).
	ReceiveReturn(ctx context.Context, returnID string, condition schemas.ReturnCondition, traceparent string) (created bool, err error)
	// ReturnOrderID returns the order of a stored return; found is false for an unknown id.
	ReturnOrderID(ctx context.Context, returnID string) (orderID string, found bool, err error)
	// Personal returns the customer of a placed order and its personal fields, revealed (the
	// plaintext, or "[erased]"); found is false for an unknown id (see orders.Store).
	Personal(ctx context.Context, orderID string) (customerID string, p orders.PersonalData, found bool, err error)
	// EraseCustomer destroys a customer's data keys and records CustomerErased; it returns how
	// many keys it destroyed (0 when there were none left: idempotent).
	EraseCustomer(ctx context.Context, customerID string) (keys int, err error)
}

// Reader is what the API needs of the views.
type Reader interface {
	Ready() bool
	Status(orderID string) (schemas.OrderStatus, bool, error)
	List(status schemas.Status, limit int) ([]schemas.OrderStatus, error)
	Stock(sku string) (views.Stock, error)
	WaitFor(ctx context.Context, orderID string, match func(schemas.OrderStatus) bool) (schemas.OrderStatus, bool, error)
	// Returns returns the returns of an order as the returns orchestrator keeps them; ok is false
	// when the order has none.
	Returns(orderID string) (returns.State, bool, error)
}

// Server holds the API's dependencies.
type Server struct {
	orders     Orders
	reader     Reader
	tracer     trace.Tracer
	maxTimeout time.Duration
	auth       auth.Authenticator // nil: open (loopback development only; see WithAuth)
	limits     *limiter
	longPolls  *longPolls            // requests waiting on a status change (wait_for); see WithMaxLongPolls
	metrics    prometheus.Registerer // nil: no metrics (see WithMetrics)
}

// Option configures the API.
type Option func(*Server)

// WithTracer starts (or continues, from a traceparent header) a span for each write; its
// traceparent goes into the outbox so the trace follows the event through the pipeline.
func WithTracer(t trace.Tracer) Option { return func(s *Server) { s.tracer = t } }

// New returns the API handler.
func New(o Orders, r Reader, opts ...Option) http.Handler {
	s := &Server{orders: o, reader: r, maxTimeout: 60 * time.Second}
	for _, opt := range opts {
		opt(s)
	}
	if s.longPolls == nil {
		s.longPolls = newLongPolls(DefaultMaxLongPolls)
	}
	s.registerMetrics()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", s.placeOrder)
	mux.HandleFunc("GET /orders/{id}", s.getOrder)
	mux.HandleFunc("GET /orders", s.listOrders)
	mux.HandleFunc("PUT /inventory/{sku}", s.setStock)
	mux.HandleFunc("GET /inventory/{sku}", s.getStock)
	mux.HandleFunc("POST /orders/{id}/returns", s.requestReturn)
	mux.HandleFunc("GET /returns/{id}", s.getReturn)
	mux.HandleFunc("POST /returns/{id}/received", s.receiveReturn)
	mux.HandleFunc("DELETE /customers/{customer_id}", s.eraseCustomer)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.reader.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "recovering", "error": "views are still recovering their tables"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return recoverJSON(s.authenticate(httpjson.ExactRoutes(mux, false, writeError)))
}

type orderResponse struct {
	OrderID  string         `json:"order_id"`
	Status   schemas.Status `json:"status"`
	Reason   *string        `json:"reason"`
	History  []historyEntry `json:"history"`
	Version  int64          `json:"version"`
	TimedOut *bool          `json:"timed_out,omitempty"`
	// Personal is the order's personal data, revealed, for a caller who may see the order (only
	// GET /orders/{id}, and only when the order carries some).
	Personal *personalResponse `json:"personal,omitempty"`
}

type historyEntry struct {
	Status schemas.Status `json:"status"`
	At     time.Time      `json:"at"`
}

func toResponse(s schemas.OrderStatus) orderResponse {
	r := orderResponse{OrderID: s.OrderID, Status: s.Status, Version: s.Version, History: []historyEntry{}}
	if s.Reason != nil {
		reason := string(*s.Reason)
		r.Reason = &reason
	}
	for _, h := range s.History {
		r.History = append(r.History, historyEntry{Status: h.Status, At: h.At})
	}
	return r
}

func (s *Server) placeOrder(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, auth.ScopeCustomer, auth.ScopeOperations) {
		return
	}
	var req orders.NewOrder
	if !decodeBody(w, r, &req) {
		return
	}
	if p := principal(r); !p.Can(auth.ScopeOperations) {
		// a customer token places orders for its own customer only
		if req.CustomerID == "" {
			req.CustomerID = p.Customer
		}
		if req.CustomerID != p.Customer {
			writeError(w, http.StatusForbidden, "this token places orders for its own customer only")
			return
		}
	}
	if err := checkAmounts(req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, end := s.span(r, "POST /orders")
	defer end()
	dbctx, cancel := context.WithTimeout(ctx, DBTimeout)
	defer cancel()
	placed, err := s.orders.Place(dbctx, req, r.Header.Get("Idempotency-Key"), s.traceparent(ctx, r))
	switch {
	case errors.Is(err, orders.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, orders.ErrIdempotencyConflict):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case err != nil:
		internalError(w, r, http.StatusServiceUnavailable, "could not place the order", err)
		return
	}
	code := http.StatusCreated
	if !placed.Created {
		code = http.StatusOK
	}
	w.Header().Set("Location", "/orders/"+placed.OrderID)
	writeJSON(w, code, map[string]string{"order_id": placed.OrderID, "status": string(schemas.StatusPlaced)})
}

// checkAmounts applies the order bounds of package schemas (the ones processors enforce on
// OrderPlaced) with overflow-checked arithmetic: 1 to schemas.MaxLines items, quantities in
// 1..schemas.MaxQuantity, unit prices in 0..schemas.MaxUnitPriceMinor and a total of at most
// schemas.MaxTotalMinor. An order it accepts has a total that fits int64 without wrapping. The
// error wraps orders.ErrInvalid.
func checkAmounts(req orders.NewOrder) error {
	if n := len(req.Items); n == 0 || n > schemas.MaxLines {
		return fmt.Errorf("%w: items must hold 1 to %d lines, not %d", orders.ErrInvalid, schemas.MaxLines, n)
	}
	var total int64
	for i, it := range req.Items {
		if msg := schemas.CheckLine(it.Quantity, it.UnitPriceMinor); msg != "" {
			return fmt.Errorf("%w: items[%d] has %s (quantity must be 1 to %d, unit_price_cents 0 to %d)",
				orders.ErrInvalid, i, msg, schemas.MaxQuantity, schemas.MaxUnitPriceMinor)
		}
		amount, err := schemas.MulMinor(it.Quantity, it.UnitPriceMinor)
		if err == nil {
			total, err = schemas.AddMinor(total, amount)
		}
		if err != nil {
			return fmt.Errorf("%w: order total overflows at items[%d] (%w); the maximum total is %d minor units",
				orders.ErrInvalid, i, err, int64(schemas.MaxTotalMinor))
		}
		if total > schemas.MaxTotalMinor {
			return fmt.Errorf("%w: order total exceeds the maximum of %d minor units at items[%d]",
				orders.ErrInvalid, int64(schemas.MaxTotalMinor), i)
		}
	}
	return nil
}

var statusNames = map[string]schemas.Status{}

func init() {
	for _, st := range []schemas.Status{schemas.StatusPlaced, schemas.StatusPaymentAuthorized, schemas.StatusInventoryReserved,
		schemas.StatusShipped, schemas.StatusCancelled} {
		statusNames[string(st)] = st
	}
}

var orderIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, auth.ScopeCustomer, auth.ScopeOperations) {
		return
	}
	id := r.PathValue("id")
	if !orderIDRe.MatchString(id) {
		writeError(w, http.StatusBadRequest, "malformed order id")
		return
	}
	q := r.URL.Query()
	waitFor := q.Get("wait_for")
	var match func(schemas.OrderStatus) bool
	if waitFor != "" {
		if strings.EqualFold(waitFor, "terminal") {
			match = func(st schemas.OrderStatus) bool { return st.Status.Terminal() }
		} else if want, ok := statusNames[strings.ToUpper(waitFor)]; ok {
			match = func(st schemas.OrderStatus) bool { return reached(st, want) }
		} else {
			writeError(w, http.StatusBadRequest, "wait_for must be a status (PLACED, PAYMENT_AUTHORIZED, INVENTORY_RESERVED, SHIPPED, CANCELLED) or terminal")
			return
		}
	}
	timeout := 10 * time.Second
	if t := q.Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 || d > s.maxTimeout {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("timeout must be a duration between 0s and %s, e.g. 5s", s.maxTimeout))
			return
		}
		timeout = d
	}

	// Known at all, and the caller's? Answered before any wait: an unknown id (or another
	// customer's order, which a customer token must not learn exists) is 404 at once.
	st, found, err := s.reader.Status(id)
	if err != nil {
		internalError(w, r, http.StatusServiceUnavailable, "status view unavailable", err)
		return
	}
	customer := st.CustomerID
	if !found || customer == "" {
		dbctx, cancel := context.WithTimeout(r.Context(), DBTimeout)
		owner, placed, err := s.orders.Owner(dbctx, id)
		cancel()
		if err != nil {
			internalError(w, r, http.StatusServiceUnavailable, "order store unavailable", err)
			return
		}
		if !placed {
			writeError(w, http.StatusNotFound, "unknown order id "+id)
			return
		}
		customer = owner
	}
	if !ownsOrder(r, customer) {
		writeError(w, http.StatusNotFound, "unknown order id "+id)
		return
	}
	// The caller may see the order: its personal data, revealed, from the store (an order the
	// status table knows but the store does not, written by another producer, has none).
	dbctx, cancel := context.WithTimeout(r.Context(), DBTimeout)
	owner, personal, placed, perr := s.orders.Personal(dbctx, id)
	cancel()
	if perr != nil {
		// the status still answers from the view: a store that is down costs the personal
		// fields, not the read (they come back with the store)
		slog.Warn("api: personal data of an order unavailable; answered without it", "order_id", id, "err", perr)
		placed = false
	}
	timedOut := false
	if match != nil && !(found && match(st)) {
		// a wait: it needs one of the long-poll slots, else 503 at once
		if !s.longPolls.tryStart() {
			slog.Debug("api: long poll refused at the cap", "path", r.URL.Path, "max_long_polls", s.longPolls.capacity())
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(LongPollRetryAfter.Seconds()))))
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf(
				"too many requests waiting on order statuses (at most %d at once); retry later, or ask without wait_for", s.longPolls.capacity()))
			return
		}
		st, found, timedOut, err = s.waitFor(r.Context(), id, match, timeout)
	}
	if err != nil {
		internalError(w, r, http.StatusServiceUnavailable, "status view unavailable", err)
		return
	}
	if !found {
		// placed, not yet captured into the status table
		st = schemas.OrderStatus{OrderID: id, Status: schemas.StatusPlaced}
	}
	resp := toResponse(st)
	if match != nil {
		resp.TimedOut = &timedOut
	}
	if placed && ownsOrder(r, owner) {
		resp.Personal = toPersonal(personal)
	}
	writeJSON(w, http.StatusOK, resp)
}

// waitFor waits up to timeout for match to accept the order's status, holding a long-poll slot
// the caller took (and gives back here). timedOut is true when the wait ended without a match,
// by the timeout or because the request (or the server) stopped: then st is what is known.
func (s *Server) waitFor(ctx context.Context, id string, match func(schemas.OrderStatus) bool, timeout time.Duration) (
	st schemas.OrderStatus, found, timedOut bool, err error) {
	defer s.longPolls.done()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, found, err = s.reader.WaitFor(ctx, id, match)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// the wait is over (or the server is stopping): answer with what is known
		return st, found, true, nil
	}
	return st, found, false, err
}

// reached reports whether the order is at (or past, for the step statuses) want.
func reached(st schemas.OrderStatus, want schemas.Status) bool {
	if st.Status == want {
		return true
	}
	for _, h := range st.History {
		if h.Status == want {
			return true
		}
	}
	return false
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, auth.ScopeOperations) {
		return
	}
	q := r.URL.Query()
	var status schemas.Status
	if v := q.Get("status"); v != "" {
		st, ok := statusNames[strings.ToUpper(v)]
		if !ok {
			writeError(w, http.StatusBadRequest, "unknown status "+v)
			return
		}
		status = st
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be an integer between 1 and 1000")
			return
		}
		limit = n
	}
	list, err := s.reader.List(status, limit)
	if err != nil {
		internalError(w, r, http.StatusServiceUnavailable, "status view unavailable", err)
		return
	}
	out := make([]orderResponse, 0, len(list))
	for _, st := range list {
		out = append(out, toResponse(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": out, "count": len(out)})
}

func (s *Server) setStock(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, auth.ScopeOperations) {
		return
	}
	var body struct {
		Available *int64 `json:"available"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Available == nil {
		writeError(w, http.StatusBadRequest, `body must be {"available": N}`)
		return
	}
	if n := *body.Available; n < 0 || n > schemas.MaxStock {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("available must be between 0 and %d, not %d", int64(schemas.MaxStock), n))
		return
	}
	sku := r.PathValue("sku")
	ctx, end := s.span(r, "PUT /inventory/{sku}")
	defer end()
	dbctx, cancel := context.WithTimeout(ctx, DBTimeout)
	defer cancel()
	eventID, err := s.orders.SetStock(dbctx, sku, *body.Available, s.traceparent(ctx, r))
	if errors.Is(err, orders.ErrInvalid) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		internalError(w, r, http.StatusServiceUnavailable, "could not set stock", err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"sku": sku, "available": *body.Available, "event_id": eventID})
}

func (s *Server) getStock(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, auth.ScopeOperations) {
		return
	}
	sku := r.PathValue("sku")
	if !orderIDRe.MatchString(sku) {
		writeError(w, http.StatusBadRequest, "malformed sku")
		return
	}
	st, err := s.reader.Stock(sku)
	if err != nil {
		internalError(w, r, http.StatusServiceUnavailable, "inventory view unavailable", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sku": st.SKU, "available": st.Available, "reserved": st.Reserved})
}

// decodeBody reads one JSON object with no unknown fields from a body of at most MaxBody bytes.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return httpjson.DecodeBody(w, r, v, MaxBody)
}

// span starts a server span continuing the request's traceparent (a no-op without a tracer).
func (s *Server) span(r *http.Request, name string) (context.Context, func()) {
	if s.tracer == nil {
		return r.Context(), func() {}
	}
	ctx, span := s.tracer.Start(tracing.FromTraceparent(r.Context(), r.Header.Get("traceparent")), name,
		trace.WithSpanKind(trace.SpanKindServer))
	return ctx, func() { span.End() }
}

// traceparent returns the traceparent of the request's span, else the request's own, else a new
// trace's.
func (s *Server) traceparent(ctx context.Context, r *http.Request) string {
	if tp := tracing.Traceparent(ctx); tp != "" {
		return tp
	}
	if tp := r.Header.Get("traceparent"); validTraceparent(tp) {
		return tp
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

var traceparentRe = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

func validTraceparent(tp string) bool { return traceparentRe.MatchString(tp) }

func writeJSON(w http.ResponseWriter, code int, v any) { httpjson.Write(w, code, v) }

func writeError(w http.ResponseWriter, code int, msg string) { httpjson.WriteError(w, code, msg) }

func recoverJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				slog.Error("panic in handler", "path", r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
