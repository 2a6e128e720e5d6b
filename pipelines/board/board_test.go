package board

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/pipelines/reprocess"
	"github.com/orderflow/orderflow/pipelines/views"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/schemas"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func reason(r schemas.CancelReason) *schemas.CancelReason { return &r }

func do(t *testing.T, h http.Handler, method, target, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// decode parses a JSON answer, failing the test unless it is JSON.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json (body %s)", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return v
}

type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id"`
}

func readyViews() *fakeViews {
	v := newFakeViews()
	v.statuses["o-1"] = schemas.OrderStatus{OrderID: "o-1", Status: schemas.StatusPlaced, PlacedAt: &t0,
		History: []schemas.StatusEntry{{Status: schemas.StatusPlaced, At: t0}}}
	return v
}

// Every /ops endpoint needs a valid token (401) with the operations scope (403); /whoami any
// valid token; the page and its assets none.
func TestScopes(t *testing.T) {
	b := newTestBoard(fakeAuth{}, readyViews(), &fakeCluster{scans: map[string]keyScan{}})
	replayBody := `{"topic":"` + string(topology.Default().PaymentEvents()) + `.dlq"}`
	ops := []struct{ method, target, body string }{
		{"GET", "/ops/summary", ""},
		{"GET", "/ops/orders/o-1/timeline", ""},
		{"GET", "/ops/returns", ""},
		{"GET", "/ops/inventory", ""},
		{"GET", "/ops/health", ""},
		{"POST", "/ops/dead-letters/replay", replayBody},
		{"GET", "/ops/stream", ""}, // refused before it streams
	}
	for _, ep := range ops {
		for _, tc := range []struct {
			token string
			want  int
		}{{"", 401}, {"wrong-token", 401}, {customerToken, 403}} {
			rec := do(t, b, ep.method, ep.target, tc.token, ep.body)
			if rec.Code != tc.want {
				t.Errorf("%s %s with token %q: %d, want %d", ep.method, ep.target, tc.token, rec.Code, tc.want)
				continue
			}
			if e := decode[errorBody](t, rec); e.Error == "" {
				t.Errorf("%s %s: %d without an error message", ep.method, ep.target, rec.Code)
			}
			if tc.want == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", ep.method, ep.target)
			}
		}
		if ep.target == "/ops/stream" {
			continue // an accepted stream does not end by itself (TestStream)
		}
		if rec := do(t, b, ep.method, ep.target, opsToken, ep.body); rec.Code != 200 {
			t.Errorf("%s %s with the operations token: %d %s, want 200", ep.method, ep.target, rec.Code, rec.Body)
		}
	}

	if rec := do(t, b, "GET", "/whoami", "", ""); rec.Code != 401 {
		t.Errorf("/whoami without a token: %d, want 401", rec.Code)
	}
	type who struct {
		Scopes   []string `json:"scopes"`
		Customer string   `json:"customer"`
	}
	if w := decode[who](t, do(t, b, "GET", "/whoami", customerToken, "")); len(w.Scopes) != 1 || w.Scopes[0] != "customer" || w.Customer != "c-1" {
		t.Errorf("/whoami of a customer token: %+v", w)
	}
	if w := decode[who](t, do(t, b, "GET", "/whoami", opsToken, "")); len(w.Scopes) != 1 || w.Scopes[0] != "operations" || w.Customer != "" {
		t.Errorf("/whoami of an operations token: %+v", w)
	}
	for _, page := range []string{"/board", "/board/", "/board/assets/board.js", "/board/assets/board.css"} {
		if rec := do(t, b, "GET", page, "", ""); rec.Code != 200 {
			t.Errorf("GET %s without a token: %d, want 200", page, rec.Code)
		}
	}
}

// Without an authenticator everything is open and /whoami says operations.
func TestOpenWithoutAuth(t *testing.T) {
	b := newTestBoard(nil, readyViews(), &fakeCluster{})
	rec := do(t, b, "GET", "/whoami", "", "")
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"customer":"","scopes":["operations"]}` {
		t.Errorf("/whoami without auth: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, b, "GET", "/ops/summary", "", ""); rec.Code != 200 {
		t.Errorf("/ops/summary without auth: %d", rec.Code)
	}
}

// The summary lists every status and outcome (zero included), the total and the recent orders
// in the page's shape; it is cached for a second.
func TestSummary(t *testing.T) {
	v := readyViews()
	shipped := schemas.OrderStatus{OrderID: "o-2", Status: schemas.StatusShipped, CustomerID: "c-9", TotalMinor: 1250, Currency: "EUR",
		History: []schemas.StatusEntry{{Status: schemas.StatusPlaced, At: t0}, {Status: schemas.StatusShipped, At: t0.Add(time.Minute)}}}
	cancelled := schemas.OrderStatus{OrderID: "o-3", Status: schemas.StatusCancelled, Reason: reason(schemas.CancelOutOfStock),
		History: []schemas.StatusEntry{{Status: schemas.StatusCancelled, At: t0}}}
	v.summary = views.Summary{Total: 5,
		Statuses: map[schemas.Status]int{schemas.StatusShipped: 3, schemas.StatusCancelled: 2},
		Outcomes: map[string]int{"SHIPPED": 3, "CANCELLED/OUT_OF_STOCK": 1, "CANCELLED/UNKNOWN": 1},
		Recent:   []schemas.OrderStatus{shipped, cancelled}}
	b := newTestBoard(nil, v, &fakeCluster{})

	type summary struct {
		Statuses map[string]int   `json:"statuses"`
		Outcomes map[string]int   `json:"outcomes"`
		Total    int              `json:"total"`
		Recent   []map[string]any `json:"recent"`
	}
	s := decode[summary](t, do(t, b, "GET", "/ops/summary", "", ""))
	wantStatuses := map[string]int{"PLACED": 0, "PAYMENT_AUTHORIZED": 0, "INVENTORY_RESERVED": 0, "SHIPPED": 3, "CANCELLED": 2}
	if len(s.Statuses) != len(wantStatuses) {
		t.Errorf("statuses %v, want %v", s.Statuses, wantStatuses)
	}
	for k, n := range wantStatuses {
		if got, ok := s.Statuses[k]; !ok || got != n {
			t.Errorf("statuses[%s] = %d (present %v), want %d", k, got, ok, n)
		}
	}
	wantOutcomes := map[string]int{"SHIPPED": 3, "CANCELLED/PAYMENT_DECLINED": 0, "CANCELLED/OUT_OF_STOCK": 1, "CANCELLED/TIMEOUT": 0, "CANCELLED/UNKNOWN": 1}
	for k, n := range wantOutcomes {
		if got, ok := s.Outcomes[k]; !ok || got != n {
			t.Errorf("outcomes[%s] = %d (present %v), want %d", k, got, ok, n)
		}
	}
	if s.Total != 5 || len(s.Recent) != 2 {
		t.Fatalf("total %d, recent %d; want 5 and 2", s.Total, len(s.Recent))
	}
	first, second := s.Recent[0], s.Recent[1]
	if first["order_id"] != "o-2" || first["status"] != "SHIPPED" || first["reason"] != nil || first["customer_id"] != "c-9" ||
		first["total_cents"] != 1250.0 || first["currency"] != "EUR" || first["updated_at"] != t0.Add(time.Minute).Format(time.RFC3339) {
		t.Errorf("recent[0] = %v", first)
	}
	if second["reason"] != "OUT_OF_STOCK" {
		t.Errorf("recent[1].reason = %v, want OUT_OF_STOCK", second["reason"])
	}

	do(t, b, "GET", "/ops/summary", "", "")
	if v.summaryCalls != 1 {
		t.Errorf("two summaries within a second counted the view %d times, want 1", v.summaryCalls)
	}
}

// Views that are not recovered (or fail, or panic) answer 503 with a request id and nothing of
// the cause.
func TestUnavailableViewsAnswer503(t *testing.T) {
	check := func(name string, rec *httptest.ResponseRecorder) {
		t.Helper()
		if rec.Code != 503 {
			t.Errorf("%s: %d, want 503", name, rec.Code)
			return
		}
		e := decode[errorBody](t, rec)
		if e.RequestID == "" || rec.Header().Get("X-Request-Id") != e.RequestID {
			t.Errorf("%s: 503 without a request id: %s", name, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "secret") || strings.Contains(rec.Body.String(), "10.1.2.3") {
			t.Errorf("%s: the answer leaks the cause: %s", name, rec.Body)
		}
	}
	recovering := readyViews()
	recovering.notReady = true
	check("not recovered", do(t, newTestBoard(nil, recovering, nil), "GET", "/ops/summary", "", ""))

	failing := readyViews()
	failing.err = errBrokerDown
	check("failing", do(t, newTestBoard(nil, failing, nil), "GET", "/ops/inventory", "", ""))

	panicking := readyViews()
	panicking.panics = true
	check("panicking", do(t, newTestBoard(nil, panicking, nil), "GET", "/ops/orders/o-1/timeline", "", ""))

	check("no views", do(t, New(Config{}), "GET", "/ops/returns", "", ""))
}

// Replay accepts the topology's dead-letter topics only (400 otherwise, and for a body that is
// not exactly {"topic": …}); a failed replay is a 503 without its cause.
func TestReplayValidatesTheTopic(t *testing.T) {
	c := &fakeCluster{}
	b := newTestBoard(nil, readyViews(), c)
	dlq := string(topology.Default().InventoryEvents()) + ".dlq"
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"topic":"` + string(topology.Default().InventoryEvents()) + `"}`, 400}, // the event topic itself
		{`{"topic":"orderflow.unknown.events.dlq"}`, 400},
		{`{"topic":"other.inventory.events.dlq"}`, 400},
		{`{"topic":""}`, 400},
		{`{}`, 400},
		{`{"topic":"` + dlq + `","extra":1}`, 400},
		{`{"topic":"` + dlq + `"} {}`, 400},
		{`not json`, 400},
		{`{"topic":"` + strings.Repeat("x", MaxBody) + `"}`, 413},
	} {
		rec := do(t, b, "POST", "/ops/dead-letters/replay", "", tc.body)
		if rec.Code != tc.want {
			t.Errorf("body %.60q: %d, want %d", tc.body, rec.Code, tc.want)
		}
		if e := decode[errorBody](t, rec); e.Error == "" {
			t.Errorf("body %.60q: no error message", tc.body)
		}
	}
	if rec := do(t, b, "POST", "/ops/dead-letters/replay", "", ""); rec.Code != 400 {
		t.Errorf("empty body: %d, want 400", rec.Code)
	}
	if len(c.replayed) != 0 {
		t.Fatalf("invalid requests replayed %v", c.replayed)
	}

	rec := do(t, b, "POST", "/ops/dead-letters/replay", "", `{"topic":"`+dlq+`"}`)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"replayed":7,"topic":"`+dlq+`"}` {
		t.Errorf("replay of %s: %d %s", dlq, rec.Code, rec.Body)
	}
	if len(c.replayed) != 1 || c.replayed[0] != dlq {
		t.Errorf("replayed %v, want [%s]", c.replayed, dlq)
	}
	if rec := do(t, b, "GET", "/ops/dead-letters/replay", "", ""); rec.Code != 405 {
		t.Errorf("GET on the replay endpoint: %d, want 405", rec.Code)
	}

	c.replayErr = errBrokerDown
	rec = do(t, b, "POST", "/ops/dead-letters/replay", "", `{"topic":"`+dlq+`"}`)
	if e := decode[errorBody](t, rec); rec.Code != 503 || e.RequestID == "" || strings.Contains(e.Error, "10.1.2.3") {
		t.Errorf("failed replay: %d %s", rec.Code, rec.Body)
	}
}

// The page and its assets are served from the binary with their types, revalidated on every use,
// the page with a strict content security policy.
func TestStaticAssets(t *testing.T) {
	b := newTestBoard(fakeAuth{}, nil, nil)
	for _, tc := range []struct{ path, contentType string }{
		{"/board", "text/html; charset=utf-8"},
		{"/board/", "text/html; charset=utf-8"},
		{"/board/assets/board.js", "text/javascript; charset=utf-8"},
		{"/board/assets/board.css", "text/css; charset=utf-8"},
	} {
		rec := do(t, b, "GET", tc.path, "", "")
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("%s: %d with %d bytes", tc.path, rec.Code, rec.Body.Len())
			continue
		}
		h := rec.Header()
		if got := h.Get("Content-Type"); got != tc.contentType {
			t.Errorf("%s: Content-Type %q, want %q", tc.path, got, tc.contentType)
		}
		if got := h.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", tc.path, got)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", tc.path)
		}
		csp := h.Get("Content-Security-Policy")
		if strings.HasPrefix(tc.contentType, "text/html") {
			if !strings.HasPrefix(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("%s: Content-Security-Policy %q", tc.path, csp)
			}
			if !strings.Contains(rec.Body.String(), "orderflow board") {
				t.Errorf("%s: not the board's page", tc.path)
			}
		}
		// an unchanged file costs a 304
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		again := httptest.NewRecorder()
		b.ServeHTTP(again, req)
		if again.Code != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", tc.path, again.Code)
		}
	}
	for _, missing := range []string{"/board/assets/nope.js", "/board/assets/.keep", "/board/assets/../board.go", "/board/index.html", "/nothing"} {
		rec := do(t, b, "GET", missing, "", "")
		if rec.Code != 404 {
			t.Errorf("%s: %d, want 404", missing, rec.Code)
			continue
		}
		decode[errorBody](t, rec)
	}
	if rec := do(t, b, "POST", "/board", "", "x"); rec.Code != 405 {
		t.Errorf("POST /board: %d, want 405", rec.Code)
	}
}

// The stream writes an event per status change and pings, and ends (cancelling its
// subscription) when the client goes away.
func TestStream(t *testing.T) {
	v := readyViews()
	b := newTestBoard(fakeAuth{}, v, nil)
	b.pingEvery = 20 * time.Millisecond
	srv := httptest.NewServer(b)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/ops/stream", nil)
	req.Header.Set("Authorization", "Bearer "+opsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	select {
	case <-v.subscribedSig:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not subscribe")
	}
	v.publish(schemas.OrderStatus{OrderID: "o-7", Status: schemas.StatusShipped, CustomerID: "c-1", TotalMinor: 99, Currency: "EUR",
		History: []schemas.StatusEntry{{Status: schemas.StatusShipped, At: t0}}})

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended early")
			}
			return l
		case <-time.After(5 * time.Second):
			t.Fatal("no line within 5s")
		}
		return ""
	}
	var event, data string
	pinged := false
	for event == "" || !pinged {
		switch l := next(); {
		case l == "event: order":
			event = l
			data = next()
		case l == ": ping":
			pinged = true
		}
	}
	var order map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &order); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	if order["order_id"] != "o-7" || order["status"] != "SHIPPED" || order["total_cents"] != 99.0 || order["updated_at"] != t0.Format(time.RFC3339) {
		t.Errorf("event data %v", order)
	}

	cancel() // the client goes away
	deadline := time.Now().Add(5 * time.Second)
	for v.cancelledCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stream's subscription was not cancelled 5s after the client left")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(b.streams); n != 0 {
		t.Errorf("%d stream slots still taken", n)
	}
}

// The timeline lists the order's records oldest first with the groups reading each topic and
// whether they are past it, and what the order waits for.
func TestTimeline(t *testing.T) {
	topo := topology.Default()
	v := readyViews()
	authorized := t0.Add(time.Second)
	v.statuses["o-1"] = schemas.OrderStatus{OrderID: "o-1", Status: schemas.StatusPaymentAuthorized, PlacedAt: &t0, PaymentAuthorizedAt: &authorized,
		History: []schemas.StatusEntry{{Status: schemas.StatusPlaced, At: t0}, {Status: schemas.StatusPaymentAuthorized, At: authorized}}}
	orders, payments := string(topo.OrderEvents()), string(topo.PaymentEvents())
	c := &fakeCluster{
		scans: map[string]keyScan{
			orders:                        {partition: 3, records: []keyedRecord{{offset: 41, time: t0, eventType: "OrderPlaced", eventID: "e-1"}}},
			payments:                      {partition: 3, records: []keyedRecord{{offset: 9, time: authorized, eventType: "PaymentAuthorized", eventID: "e-2"}}, truncated: true},
			string(topo.ShippingEvents()): {partition: 3},
		},
		committedBy: map[string]map[string]map[int32]int64{
			string(topo.Group(topology.GroupPayments)):    {orders: {3: 42}},
			string(topo.Group(topology.GroupOrderStatus)): {orders: {3: 42}, payments: {3: 9}},
		},
	}
	b := newTestBoard(nil, v, c)
	type timeline struct {
		OrderID    string      `json:"order_id"`
		Status     string      `json:"status"`
		WaitingFor string      `json:"waiting_for"`
		Events     []eventJSON `json:"events"`
		Truncated  bool        `json:"truncated"`
	}
	tl := decode[timeline](t, do(t, b, "GET", "/ops/orders/o-1/timeline", "", ""))
	if tl.OrderID != "o-1" || tl.Status != "PAYMENT_AUTHORIZED" || tl.WaitingFor != "inventory: the reservation" || !tl.Truncated {
		t.Errorf("timeline %+v", tl)
	}
	if !c.scanSince.Equal(t0.Add(-time.Minute)) {
		t.Errorf("scanned from %v, want a minute before the order was placed", c.scanSince)
	}
	if len(tl.Events) != 2 {
		t.Fatalf("events %+v, want 2", tl.Events)
	}
	placed, paid := tl.Events[0], tl.Events[1]
	if placed.Topic != orders || placed.Offset != 41 || placed.Type != "OrderPlaced" || placed.EventID != "e-1" || placed.Partition != 3 {
		t.Errorf("first event %+v, want the OrderPlaced", placed)
	}
	handled := func(ev eventJSON) map[string]bool {
		out := map[string]bool{}
		for _, h := range ev.HandledBy {
			out[h.Group] = h.Handled
		}
		return out
	}
	// every group reading the order topic is listed; the two that committed past 41 handled it
	wantPlaced := map[string]bool{}
	for _, g := range b.groupsByTopic[orders] {
		wantPlaced[g] = g == string(topo.Group(topology.GroupPayments)) || g == string(topo.Group(topology.GroupOrderStatus))
	}
	if got := handled(placed); len(got) != len(wantPlaced) || len(got) < 2 {
		t.Errorf("OrderPlaced handled_by %v, want %v", got, wantPlaced)
	} else {
		for g, want := range wantPlaced {
			if got[g] != want {
				t.Errorf("OrderPlaced handled by %s: %v, want %v", g, got[g], want)
			}
		}
	}
	// order-status committed 9 on the payment topic: the record at 9 is next, not handled
	if got := handled(paid); got[string(topo.Group(topology.GroupOrderStatus))] {
		t.Errorf("PaymentAuthorized handled_by %v: order-status is not past offset 9", got)
	}

	if rec := do(t, b, "GET", "/ops/orders/o-404/timeline", "", ""); rec.Code != 404 {
		t.Errorf("unknown order: %d, want 404", rec.Code)
	}
	if rec := do(t, b, "GET", "/ops/orders/bad%20id/timeline", "", ""); rec.Code != 400 {
		t.Errorf("malformed id: %d, want 400", rec.Code)
	}
}

func TestWaitingFor(t *testing.T) {
	at := t0
	for _, tc := range []struct {
		st   schemas.OrderStatus
		want string
	}{
		{schemas.OrderStatus{Status: schemas.StatusPlaced, PlacedAt: &at}, "payments: the authorization; inventory: the reservation"},
		{schemas.OrderStatus{Status: schemas.StatusPaymentAuthorized, PlacedAt: &at}, "inventory: the reservation"},
		{schemas.OrderStatus{Status: schemas.StatusInventoryReserved, PlacedAt: &at}, "payments: the authorization"},
		{schemas.OrderStatus{Status: schemas.StatusInventoryReserved, PlacedAt: &at, PaymentAuthorizedAt: &at}, "shipping: the shipment"},
		{schemas.OrderStatus{Status: schemas.StatusShipped}, ""},
		{schemas.OrderStatus{Status: schemas.StatusCancelled, Reason: reason(schemas.CancelTimeout)}, ""},
	} {
		if got := waitingFor(tc.st); got != tc.want {
			t.Errorf("%s: waiting for %q, want %q", tc.st.Status, got, tc.want)
		}
	}
}

// Returns and inventory come in the page's shape, cut at ?limit=, which is checked.
func TestReturnsAndInventory(t *testing.T) {
	v := readyViews()
	v.returns = []views.OrderReturn{
		{OrderID: "o-1", Return: returns.Return{ID: "r-1", Status: returns.LabelIssued, WindowEnds: t0, Due: t0, RefundMinor: 0,
			History: []returns.Step{{Status: returns.LabelIssued, At: t0}}}},
		{OrderID: "o-2", Return: returns.Return{ID: "r-2", Status: returns.Completed, RefundMinor: 500}},
	}
	v.stock = []views.Stock{{SKU: "a", Available: 1, Reserved: 2, OnHand: 3}, {SKU: "b"}}
	b := newTestBoard(nil, v, nil)

	type rets struct {
		Returns []map[string]any `json:"returns"`
	}
	r := decode[rets](t, do(t, b, "GET", "/ops/returns", "", ""))
	if len(r.Returns) != 2 {
		t.Fatalf("returns %v", r.Returns)
	}
	first, second := r.Returns[0], r.Returns[1]
	if first["return_id"] != "r-1" || first["order_id"] != "o-1" || first["status"] != "LABEL_ISSUED" ||
		!strings.HasPrefix(first["waiting_for"].(string), "warehouse: the parcel") || first["due"] != t0.Format(time.RFC3339) ||
		first["window_ends"] != t0.Format(time.RFC3339) || first["updated_at"] != t0.Format(time.RFC3339) {
		t.Errorf("returns[0] = %v", first)
	}
	if second["due"] != nil || second["window_ends"] != nil || second["refund_minor"] != 500.0 || second["waiting_for"] != "" {
		t.Errorf("returns[1] = %v", second)
	}
	if r := decode[rets](t, do(t, b, "GET", "/ops/returns?limit=1", "", "")); len(r.Returns) != 1 {
		t.Errorf("limit=1: %d returns", len(r.Returns))
	}
	for _, bad := range []string{"0", "-1", "1001", "x"} {
		if rec := do(t, b, "GET", "/ops/returns?limit="+bad, "", ""); rec.Code != 400 {
			t.Errorf("limit=%s: %d, want 400", bad, rec.Code)
		}
	}

	rec := do(t, b, "GET", "/ops/inventory?limit=1", "", "")
	if strings.TrimSpace(rec.Body.String()) != `{"skus":[{"sku":"a","available":1,"reserved":2,"on_hand":3}]}` {
		t.Errorf("inventory: %s", rec.Body)
	}
}

// Health: lag per group against the SLO, the dead-letter topics with records, versions, and a
// part whose source fails named in "unavailable" while the rest answers.
func TestHealth(t *testing.T) {
	topo := topology.Default()
	dlq := string(topo.PaymentEvents()) + ".dlq"
	c := &fakeCluster{
		dead: map[string]deadLetterStats{dlq: {count: 4, latest: []deadLetterEntry{{partition: 1, offset: 8, time: t0, kind: "undecodable", reason: "bad avro", processor: "payments"}}}},
		vers: []reprocess.VersionInfo{{Processor: "payments", Serving: "v2", Versions: []string{"", "v2"}}, {Processor: "shipping"}},
	}
	meter := &fakeMeter{partitions: []lag.Partition{
		{Group: "orderflow.payments", Topic: "t", Partition: 0, Lag: 5, TimeLag: 40 * time.Second},
		{Group: "orderflow.payments", Topic: "t", Partition: 1, Lag: 2, TimeLag: time.Second},
		{Group: "orderflow.shipping", Topic: "t", Partition: 0},
	}}
	b := New(Config{Topology: topo, LagSLO: 30 * time.Second, Meter: meter,
		Slot: func(context.Context) (*Slot, error) {
			return &Slot{Name: "orderflow_outbox", RetainedWALBytes: 1024, Active: true}, nil
		}})
	b.cluster = c

	rec := do(t, b, "GET", "/ops/health", "", "")
	h := decode[healthJSON](t, rec)
	if h.LagSLOSeconds != 30 || len(h.Lag) != 2 {
		t.Fatalf("health %s", rec.Body)
	}
	if p := h.Lag[0]; p.Group != "orderflow.payments" || p.Lag != 7 || p.OldestSeconds != 40 || p.WithinSLO {
		t.Errorf("payments lag %+v", p)
	}
	if s := h.Lag[1]; s.Group != "orderflow.shipping" || s.Lag != 0 || !s.WithinSLO {
		t.Errorf("shipping lag %+v", s)
	}
	if len(h.LagHistory) != 1 || h.LagHistory[0].Lag["orderflow.payments"] != 7 {
		t.Errorf("lag history %+v", h.LagHistory)
	}
	if len(h.DeadLetters) != 1 || h.DeadLetters[0].Topic != dlq || h.DeadLetters[0].Count != 4 ||
		h.DeadLetters[0].Latest[0].Reason != "bad avro" || h.DeadLetters[0].Latest[0].Kind != "undecodable" {
		t.Errorf("dead letters %+v", h.DeadLetters)
	}
	if len(h.Versions) != 2 || h.Versions[0].Serving != "v2" || h.Versions[1].Versions == nil {
		t.Errorf("versions %+v", h.Versions)
	}
	if h.Slot == nil || h.Slot.RetainedWALBytes != 1024 || !h.Slot.Active {
		t.Errorf("slot %+v", h.Slot)
	}
	if len(h.Unavailable) != 0 {
		t.Errorf("unavailable %v", h.Unavailable)
	}
	if !strings.Contains(rec.Body.String(), `"slot":{"name":"orderflow_outbox"`) {
		t.Errorf("slot JSON: %s", rec.Body)
	}

	// Kafka down for the dead letters: the rest answers, the part is named
	c.deadErr = errBrokerDown
	b.deadLetterCache.invalidate()
	rec = do(t, b, "GET", "/ops/health", "", "")
	h = decode[healthJSON](t, rec)
	if rec.Code != 200 || len(h.Unavailable) != 1 || h.Unavailable[0] != "dead_letters" || h.RequestID == "" || len(h.Lag) != 2 {
		t.Errorf("health with the dead letters down: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "10.1.2.3") {
		t.Errorf("health leaks the cause: %s", rec.Body)
	}

	// no meter, no slot: empty lag, "slot": null
	bare := New(Config{Topology: topo})
	bare.cluster = &fakeCluster{}
	rec = do(t, bare, "GET", "/ops/health", "", "")
	if !strings.Contains(rec.Body.String(), `"lag":[]`) || !strings.Contains(rec.Body.String(), `"slot":null`) ||
		!strings.Contains(rec.Body.String(), `"dead_letters":[]`) {
		t.Errorf("health without meter and slot: %s", rec.Body)
	}
}

// The lag ring keeps LagHistory of samples at least an interval apart, oldest first, whatever
// the number of samples recorded.
func TestLagHistoryIsBounded(t *testing.T) {
	s := newLagSampler(nil, nil, time.Second)
	start := time.Now().Add(-1000*LagSampleInterval - time.Hour)
	for i := range 1000 {
		s.record(lagSample{At: start.Add(time.Duration(i) * LagSampleInterval), Groups: []groupLag{{Group: "g", Lag: int64(i)}}})
		s.record(lagSample{At: start.Add(time.Duration(i)*LagSampleInterval + time.Second)}) // between ticks: latest only
	}
	s.mu.Lock()
	n := s.n
	s.mu.Unlock()
	if n != lagSamples {
		t.Fatalf("ring holds %d samples, want %d", n, lagSamples)
	}
	// the newest sample is an hour old: none is within the last LagHistory
	if h := s.history(); len(h) != 0 {
		t.Errorf("history of old samples: %d, want 0", len(h))
	}
	s = newLagSampler(nil, nil, time.Second)
	now := time.Now()
	for i := range 200 {
		s.record(lagSample{At: now.Add(time.Duration(i-199) * LagSampleInterval), Groups: []groupLag{{Group: "g", Lag: int64(i)}}})
	}
	h := s.history()
	if len(h) != lagSamples-1 && len(h) != lagSamples { // the oldest may just have left the window
		t.Fatalf("history %d samples, want about %d", len(h), lagSamples)
	}
	for i := 1; i < len(h); i++ {
		if !h[i].At.After(h[i-1].At) {
			t.Fatalf("history not oldest first at %d", i)
		}
	}
	if last := h[len(h)-1]; last.Groups[0].Lag != 199 {
		t.Errorf("newest sample %+v, want lag 199", last)
	}
}

// Unknown paths and methods answer JSON errors.
func TestUnknownEndpoints(t *testing.T) {
	b := newTestBoard(nil, readyViews(), &fakeCluster{})
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/ops/nothing", 404},
		{"GET", "/ops//summary", 404},
		{"POST", "/ops/summary", 405},
		{"DELETE", "/whoami", 405},
	} {
		rec := do(t, b, tc.method, tc.path, "", "")
		if rec.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.want)
			continue
		}
		if e := decode[errorBody](t, rec); e.Error == "" {
			t.Errorf("%s %s: no error message", tc.method, tc.path)
		}
	}
}
