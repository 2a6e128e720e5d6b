package board

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/pipelines/views"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/schemas"
)

// RecentOrders is how many recently changed orders /ops/summary lists.
const RecentOrders = 20

// Limits of ?limit= on /ops/returns and /ops/inventory.
const (
	DefaultReturnsLimit   = 50
	DefaultInventoryLimit = 200
	MaxLimit              = 1000
)

var errNoViews = errors.New("board: no views configured")

// readyViews returns the configured views, or answers 503 and returns nil (no views, or not yet
// recovered: their answers would be partial).
func (b *Board) readyViews(w http.ResponseWriter, r *http.Request) Views {
	if b.cfg.Views == nil {
		unavailable(w, r, "views unavailable", errNoViews)
		return nil
	}
	if !b.cfg.Views.Ready() {
		unavailable(w, r, "views are still recovering their tables", errors.New("views not recovered"))
		return nil
	}
	return b.cfg.Views
}

// whoami answers GET /whoami: {"scopes": [...], "customer": "c-1" or ""}.
func (b *Board) whoami(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	scopes := p.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"scopes": scopes, "customer": p.Customer})
}

// orderJSON is an order as the board shows it (summary's recent list and the stream's events).
type orderJSON struct {
	OrderID    string         `json:"order_id"`
	Status     schemas.Status `json:"status"`
	Reason     *string        `json:"reason"`
	CustomerID string         `json:"customer_id"`
	TotalCents int64          `json:"total_cents"`
	Currency   string         `json:"currency"`
	UpdatedAt  *time.Time     `json:"updated_at"`
}

func toOrderJSON(s schemas.OrderStatus) orderJSON {
	o := orderJSON{OrderID: s.OrderID, Status: s.Status, CustomerID: s.CustomerID, TotalCents: s.TotalMinor, Currency: s.Currency}
	if s.Reason != nil {
		reason := string(*s.Reason)
		o.Reason = &reason
	}
	if at := views.UpdatedAt(s); !at.IsZero() {
		o.UpdatedAt = &at
	}
	return o
}

// The counts /ops/summary always lists (zero included), so the page's layout does not move.
var (
	summaryStatuses = []schemas.Status{schemas.StatusPlaced, schemas.StatusPaymentAuthorized,
		schemas.StatusInventoryReserved, schemas.StatusShipped, schemas.StatusCancelled}
	summaryOutcomes = []string{"SHIPPED", "CANCELLED/PAYMENT_DECLINED", "CANCELLED/OUT_OF_STOCK", "CANCELLED/TIMEOUT"}
)

type summaryJSON struct {
	Statuses map[string]int `json:"statuses"`
	Outcomes map[string]int `json:"outcomes"`
	Total    int            `json:"total"`
	Recent   []orderJSON    `json:"recent"`
}

func toSummaryJSON(s views.Summary) summaryJSON {
	out := summaryJSON{Statuses: map[string]int{}, Outcomes: map[string]int{}, Total: s.Total, Recent: []orderJSON{}}
	for _, st := range summaryStatuses {
		out.Statuses[string(st)] = 0
	}
	for st, n := range s.Statuses { // UNKNOWN too, when some order is in it
		out.Statuses[string(st)] = n
	}
	for _, o := range summaryOutcomes {
		out.Outcomes[o] = 0
	}
	for o, n := range s.Outcomes {
		out.Outcomes[o] = n
	}
	for _, st := range s.Recent {
		out.Recent = append(out.Recent, toOrderJSON(st))
	}
	return out
}

// summary answers GET /ops/summary: orders per status and per outcome, the total, and the
// RecentOrders orders changed last, newest first.
func (b *Board) summary(w http.ResponseWriter, r *http.Request) {
	v := b.readyViews(w, r)
	if v == nil {
		return
	}
	sum, err := b.summaryCache.get(r.Context(), func(context.Context) (views.Summary, error) { return v.Summary(RecentOrders) })
	if err != nil {
		unavailable(w, r, "status view unavailable", err)
		return
	}
	writeJSON(w, http.StatusOK, toSummaryJSON(sum))
}

// limit reads ?limit= (1..MaxLimit, default def); it answers 400 and returns false otherwise.
func limit(w http.ResponseWriter, r *http.Request, def int) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxLimit {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be an integer between 1 and %d", MaxLimit))
		return 0, false
	}
	return n, true
}

type returnJSON struct {
	ReturnID    string     `json:"return_id"`
	OrderID     string     `json:"order_id"`
	Status      string     `json:"status"`
	WaitingFor  string     `json:"waiting_for"`
	Due         *time.Time `json:"due"`
	WindowEnds  *time.Time `json:"window_ends"`
	RefundMinor int64      `json:"refund_minor"`
	UpdatedAt   *time.Time `json:"updated_at"`
}

func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toReturnJSON(r views.OrderReturn) returnJSON {
	return returnJSON{ReturnID: r.Return.ID, OrderID: r.OrderID, Status: r.Return.Status, WaitingFor: returns.WaitingFor(r.Return),
		Due: timeOrNull(r.Return.Due), WindowEnds: timeOrNull(r.Return.WindowEnds), RefundMinor: r.Return.RefundMinor,
		UpdatedAt: timeOrNull(r.UpdatedAt())}
}

// returns answers GET /ops/returns?limit=N (default DefaultReturnsLimit): the returns changed
// last, newest first.
func (b *Board) returns(w http.ResponseWriter, r *http.Request) {
	n, ok := limit(w, r, DefaultReturnsLimit)
	if !ok {
		return
	}
	v := b.readyViews(w, r)
	if v == nil {
		return
	}
	// the cache holds the longest answer; a shorter one is its beginning
	list, err := b.returnsCache.get(r.Context(), func(context.Context) ([]views.OrderReturn, error) { return v.ListReturns(MaxLimit) })
	if err != nil {
		unavailable(w, r, "returns view unavailable", err)
		return
	}
	out := make([]returnJSON, 0, min(n, len(list)))
	for _, ret := range list[:min(n, len(list))] {
		out = append(out, toReturnJSON(ret))
	}
	writeJSON(w, http.StatusOK, map[string]any{"returns": out})
}

// inventory answers GET /ops/inventory?limit=N (default DefaultInventoryLimit): the stock of
// the first SKUs by name.
func (b *Board) inventory(w http.ResponseWriter, r *http.Request) {
	n, ok := limit(w, r, DefaultInventoryLimit)
	if !ok {
		return
	}
	v := b.readyViews(w, r)
	if v == nil {
		return
	}
	list, err := b.stockCache.get(r.Context(), func(context.Context) ([]views.Stock, error) { return v.ListStock(MaxLimit) })
	if err != nil {
		unavailable(w, r, "inventory view unavailable", err)
		return
	}
	out := slices.Clone(list[:min(n, len(list))])
	if out == nil {
		out = []views.Stock{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"skus": out})
}

// streamWriteTimeout bounds each write to a stream's client: one that reads nothing for this
// long is dropped.
const streamWriteTimeout = 30 * time.Second

// stream answers GET /ops/stream with server-sent events: "event: order" with the order's JSON
// (as in the summary's recent list) on each status change, and a ": ping" comment every 15 s,
// until the client goes away (or the server stops).
func (b *Board) stream(w http.ResponseWriter, r *http.Request) {
	if b.cfg.Views == nil {
		unavailable(w, r, "views unavailable", errNoViews)
		return
	}
	select {
	case b.streams <- struct{}{}:
		defer func() { <-b.streams }()
	default:
		unavailable(w, r, "too many open streams", fmt.Errorf("%d streams open", MaxStreams))
		return
	}
	updates, cancel := b.cfg.Views.Subscribe()
	defer cancel()

	// a stream outlives the server's read and write timeouts, which would end it (a passed read
	// deadline cancels the request); each write gets a deadline of its own instead
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no") // a proxy passes events on at once
	w.WriteHeader(http.StatusOK)
	send := func(chunk string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprint(w, chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(": connected\n\n") { // the headers go out now, not with the first event
		return
	}
	ping := time.NewTicker(b.pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case st, ok := <-updates:
			if !ok {
				return
			}
			data, err := json.Marshal(toOrderJSON(st))
			if err != nil {
				slog.Warn("board: order not encodable for the stream", "order_id", st.OrderID, "err", err)
				continue
			}
			if !send("event: order\ndata: " + string(data) + "\n\n") {
				return
			}
		case <-ping.C:
			if !send(": ping\n\n") {
				return
			}
		}
	}
}

// replay answers POST /ops/dead-letters/replay {"topic": "<a dead-letter topic>"} with
// {"topic", "replayed": n}: the dead letters not replayed before go back to their origin topic
// (deadletter.Replay). 400 for a topic that is not one of the pipeline's dead-letter topics,
// 409 while another replay runs.
func (b *Board) replay(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Topic string `json:"topic"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if !b.deadLetters[body.Topic] {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not one of the pipeline's dead-letter topics (%s)",
			body.Topic, strings.Join(sortedKeys(b.deadLetters), ", ")))
		return
	}
	select {
	case b.replaying <- struct{}{}:
		defer func() { <-b.replaying }()
	default:
		writeError(w, http.StatusConflict, "another replay is running; try again when it is done")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), replayTimeout)
	defer cancel()
	n, err := b.cluster.replay(ctx, body.Topic)
	b.deadLetterCache.invalidate()
	if err != nil {
		unavailable(w, r, fmt.Sprintf("replay of %s failed after %d messages", body.Topic, n), err)
		return
	}
	slog.Info("board: dead letters replayed", "topic", body.Topic, "replayed", n, "by", principal(r).ID)
	writeJSON(w, http.StatusOK, map[string]any{"topic": body.Topic, "replayed": n})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
