package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/schemas"
)

// The fixtures of the return tests. Order o-known (customer c-known, SHIPPED) has lines SKU-1 × 3
// and SKU-2 × 2; the returns view holds four of its returns, and the store one more that the view
// has not taken up yet. Order o-full (SHIPPED) already has returns.MaxReturnsPerOrder returns.
var (
	ordered = map[string][]schemas.ReturnLine{
		"o-known":  {{SKU: "SKU-1", Quantity: 3, UnitPriceMinor: 1299}, {SKU: "SKU-2", Quantity: 2, UnitPriceMinor: 500}},
		"o-full":   {{SKU: "SKU-1", Quantity: 100, UnitPriceMinor: 1}},
		"o-placed": {{SKU: "SKU-1", Quantity: 1, UnitPriceMinor: 1}},
	}
	labelIssued = schemas.ReturnID("o-known", "k-label")     // LABEL_ISSUED, SKU-1 × 1
	expired     = schemas.ReturnID("o-known", "k-expired")   // EXPIRED, SKU-1 × 2 (does not count)
	requested   = schemas.ReturnID("o-known", "k-requested") // REQUESTED, SKU-2 × 1
	inspected   = schemas.ReturnID("o-known", "k-inspected") // INSPECTED (received OK), SKU-2 × 1
	storedOnly  = schemas.ReturnID("o-known", "k-stored")    // in the store, not yet in the view
	windowEnds  = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

// labelRequest is the request that made labelIssued.
var labelRequest = orders.ReturnRequest{OrderID: "o-known", Lines: []orders.ReturnItem{{SKU: "SKU-1", Quantity: 1}}}

const labelBody = `{"lines":[{"sku":"SKU-1","quantity":1}]}`

func (memReader) Returns(orderID string) (returns.State, bool, error) {
	switch orderID {
	case "o-known":
		line := func(sku string, n int32) []schemas.ReturnLine {
			return []schemas.ReturnLine{{SKU: sku, Quantity: n, UnitPriceMinor: map[string]int64{"SKU-1": 1299, "SKU-2": 500}[sku]}}
		}
		at := windowEnds.Add(-14 * 24 * time.Hour)
		return returns.State{Returns: []returns.Return{
			{ID: labelIssued, Lines: line("SKU-1", 1), Currency: "EUR", Reason: "too small", Status: returns.LabelIssued,
				LabelID: "L-1", WindowEnds: windowEnds, Due: windowEnds,
				History: []returns.Step{{Status: returns.Requested, At: at}, {Status: returns.LabelIssued, At: at.Add(time.Second), Note: "label L-1"}}},
			{ID: expired, Lines: line("SKU-1", 2), Currency: "EUR", Status: returns.Expired, LabelVoided: true},
			{ID: requested, Lines: line("SKU-2", 1), Currency: "EUR", Status: returns.Requested},
			{ID: inspected, Lines: line("SKU-2", 1), Currency: "EUR", Status: returns.Inspected, Condition: schemas.ReturnConditionOK},
		}}, true, nil
	case "o-full":
		var st returns.State
		for i := range returns.MaxReturnsPerOrder {
			st.Returns = append(st.Returns, returns.Return{ID: schemas.ReturnID("o-full", fmt.Sprint("k", i)),
				Lines: []schemas.ReturnLine{{SKU: "SKU-1", Quantity: 1, UnitPriceMinor: 1}}, Status: returns.Completed})
		}
		return st, true, nil
	}
	return returns.State{}, false, nil
}

// memReturn is a return the memOrders store holds.
type memReturn struct {
	orderID   string
	request   string // the request, canonical enough for the tests' retries
	condition schemas.ReturnCondition
}

func (m *memOrders) seedReturns() {
	if m.returns != nil {
		return
	}
	m.returns = map[string]*memReturn{
		labelIssued: {orderID: "o-known", request: fmt.Sprint(labelRequest)},
		expired:     {orderID: "o-known"},
		requested:   {orderID: "o-known"},
		inspected:   {orderID: "o-known", condition: schemas.ReturnConditionOK},
		storedOnly:  {orderID: "o-known"},
	}
}

func (m *memOrders) RequestReturn(_ context.Context, req orders.ReturnRequest, returned map[string]int64, key, traceparent string) (orders.ReturnAccepted, error) {
	m.seedReturns()
	if err := orders.CheckIdempotencyKey(key); err != nil {
		return orders.ReturnAccepted{}, err
	}
	if err := req.Validate(); err != nil {
		return orders.ReturnAccepted{}, err
	}
	lines, ok := ordered[req.OrderID]
	if !ok {
		return orders.ReturnAccepted{}, fmt.Errorf("%w: unknown order %s", orders.ErrNotFound, req.OrderID)
	}
	id := schemas.ReturnID(req.OrderID, key)
	if prev, ok := m.returns[id]; ok {
		if prev.request != fmt.Sprint(req) {
			return orders.ReturnAccepted{}, orders.ErrIdempotencyConflict
		}
		return orders.ReturnAccepted{ReturnID: id}, nil
	}
	if _, err := orders.ReturnLines(req, lines, returned); err != nil {
		return orders.ReturnAccepted{}, err
	}
	m.returns[id] = &memReturn{orderID: req.OrderID, request: fmt.Sprint(req)}
	m.traces = append(m.traces, traceparent)
	return orders.ReturnAccepted{ReturnID: id, Created: true}, nil
}

func (m *memOrders) ReceiveReturn(_ context.Context, id string, condition schemas.ReturnCondition, traceparent string) (bool, error) {
	m.seedReturns()
	ret, ok := m.returns[id]
	switch {
	case !ok:
		return false, fmt.Errorf("%w: unknown return %s", orders.ErrNotFound, id)
	case ret.condition == condition:
		return false, nil
	case ret.condition != "":
		return false, fmt.Errorf("%w: return %s was already received as %s", orders.ErrConflict, id, ret.condition)
	}
	ret.condition = condition
	m.traces = append(m.traces, traceparent)
	return true, nil
}

func (m *memOrders) ReturnOrderID(_ context.Context, id string) (string, bool, error) {
	m.seedReturns()
	if ret, ok := m.returns[id]; ok {
		return ret.orderID, true, nil
	}
	return "", false, nil
}

func returnBody(sku string, quantity int, reason string) string {
	return fmt.Sprintf(`{"lines":[{"sku":%q,"quantity":%d}],"reason":%q}`, sku, quantity, reason)
}

// Every 4xx of POST /orders/{id}/returns is JSON with a message; the happy path is 202.
func TestRequestReturn(t *testing.T) {
	cases := []struct {
		name, path, body, key string
		code                  int
		msg                   string
	}{
		{"accepted", "/orders/o-known/returns", returnBody("SKU-1", 2, "too small"), "k-new", 202, ""},
		{"split lines merged", "/orders/o-known/returns", `{"lines":[{"sku":"SKU-1","quantity":1},{"sku":"SKU-1","quantity":1}]}`, "k-new", 202, ""},
		{"too many units", "/orders/o-known/returns", returnBody("SKU-1", 3, ""), "k-new", 422, "sku SKU-1: 3 units asked, only 2 still returnable"},
		{"sku fully returned", "/orders/o-known/returns", returnBody("SKU-2", 1, ""), "k-new", 422, "only 0 still returnable"},
		{"sku not in the order", "/orders/o-known/returns", returnBody("SKU-9", 1, ""), "k-new", 422, "SKU-9 is not in order"},
		{"quantity 0", "/orders/o-known/returns", returnBody("SKU-1", 0, ""), "k-new", 422, "quantity must be > 0"},
		{"reason too long", "/orders/o-known/returns", returnBody("SKU-1", 1, strings.Repeat("x", schemas.MaxReturnReason+1)), "k-new", 422, "reason"},
		{"unshipped order", "/orders/o-placed/returns", returnBody("SKU-1", 1, ""), "k-new", 409, "order o-placed is PLACED: only shipped orders can be returned"},
		{"unknown order", "/orders/o-nope/returns", returnBody("SKU-1", 1, ""), "k-new", 404, "unknown order id o-nope"},
		{"too many returns", "/orders/o-full/returns", returnBody("SKU-1", 1, ""), "k-new", 409, fmt.Sprintf("already has %d returns", returns.MaxReturnsPerOrder)},
		{"retry of a full order's return", "/orders/o-full/returns", returnBody("SKU-1", 1, ""), "k3", 202, ""},
		{"missing Idempotency-Key", "/orders/o-known/returns", returnBody("SKU-1", 1, ""), "", 400, "Idempotency-Key"},
		{"Idempotency-Key too long", "/orders/o-known/returns", returnBody("SKU-1", 1, ""), strings.Repeat("k", 201), 400, "Idempotency-Key longer than 200"},
		{"malformed JSON", "/orders/o-known/returns", `{"lines":`, "k-new", 400, "malformed JSON"},
		{"unknown field", "/orders/o-known/returns", `{"lines":[{"sku":"SKU-1","quantity":1}],"refund":1}`, "k-new", 400, "malformed JSON"},
		{"no lines", "/orders/o-known/returns", `{"lines":[]}`, "k-new", 400, "lines must hold"},
		{"line without quantity", "/orders/o-known/returns", `{"lines":[{"sku":"SKU-1"}]}`, "k-new", 400, "lines[0] needs a sku and a quantity"},
		{"fractional quantity", "/orders/o-known/returns", `{"lines":[{"sku":"SKU-1","quantity":1.5}]}`, "k-new", 400, "malformed JSON"},
		{"malformed order id", "/orders/o%20x/returns", returnBody("SKU-1", 1, ""), "k-new", 400, "malformed order id"},
		{"retry of a processed return", "/orders/o-known/returns", labelBody, "k-label", 202, ""},
		{"key reused for another request", "/orders/o-known/returns", returnBody("SKU-1", 2, ""), "k-label", 409, "idempotency key reused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := &memOrders{byKey: map[string]string{}}
			h := New(store, memReader{})
			var hdr []string
			if c.key != "" {
				hdr = []string{"Idempotency-Key", c.key}
			}
			rec, body := do(t, h, "POST", c.path, c.body, hdr...)
			if rec.Code != c.code {
				t.Fatalf("code %d, want %d (%v)", rec.Code, c.code, body)
			}
			if c.code >= 400 {
				if msg, _ := body["error"].(string); msg == "" || !strings.Contains(msg, c.msg) {
					t.Errorf("error %q, want it to mention %q", msg, c.msg)
				}
				if len(store.traces) != 0 {
					t.Errorf("a refused request wrote: %v", store.traces)
				}
				return
			}
			orderID := strings.Split(c.path, "/")[2]
			want := schemas.ReturnID(orderID, c.key)
			if body["return_id"] != want || rec.Header().Get("Location") != "/returns/"+want {
				t.Errorf("answer %v, Location %q; want return %s", body, rec.Header().Get("Location"), want)
			}
		})
	}
}

// A new return answers REQUESTED and carries a traceparent into the store; its retry answers the
// same return without writing again; a retry of a return the view holds answers its status.
func TestRequestReturnIdempotentAndTraced(t *testing.T) {
	store := &memOrders{byKey: map[string]string{}}
	h := New(store, memReader{})
	body := returnBody("SKU-1", 1, "wrong colour")
	rec, first := do(t, h, "POST", "/orders/o-known/returns", body, "Idempotency-Key", "k-1",
		"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if rec.Code != 202 || first["status"] != returns.Requested {
		t.Fatalf("first: %d %v", rec.Code, first)
	}
	rec, again := do(t, h, "POST", "/orders/o-known/returns", body, "Idempotency-Key", "k-1")
	if rec.Code != 202 || again["return_id"] != first["return_id"] || again["status"] != returns.Requested {
		t.Fatalf("retry: %d %v, want 202 with %v", rec.Code, again, first["return_id"])
	}
	if len(store.traces) != 1 || !strings.Contains(store.traces[0], "0af7651916cd43dd8448eb211c80319c") {
		t.Errorf("traceparents %q; want one write continuing the request's trace", store.traces)
	}
	rec, processed := do(t, h, "POST", "/orders/o-known/returns", labelBody, "Idempotency-Key", "k-label")
	if rec.Code != 202 || processed["return_id"] != labelIssued || processed["status"] != returns.LabelIssued {
		t.Errorf("retry of a processed return: %d %v, want 202 LABEL_ISSUED", rec.Code, processed)
	}
	// the stored return, not yet in the view, is visible
	rec, got := do(t, h, "GET", "/returns/"+first["return_id"].(string), "")
	if rec.Code != 200 || got["status"] != returns.Requested || got["waiting_for"] != notProcessed {
		t.Errorf("GET of the new return: %d %v", rec.Code, got)
	}
}

func TestGetReturn(t *testing.T) {
	h := New(&memOrders{byKey: map[string]string{}}, memReader{})
	rec, body := do(t, h, "GET", "/returns/"+labelIssued, "")
	if rec.Code != 200 {
		t.Fatalf("%d %v", rec.Code, body)
	}
	lines, _ := body["lines"].([]any)
	history, _ := body["history"].([]any)
	if body["return_id"] != labelIssued || body["order_id"] != "o-known" || body["status"] != returns.LabelIssued ||
		body["label_id"] != "L-1" || body["currency"] != "EUR" || body["reason"] != "too small" ||
		body["window_ends"] != windowEnds.Format(time.RFC3339) || len(lines) != 1 || len(history) != 2 ||
		!strings.HasPrefix(body["waiting_for"].(string), "warehouse: the parcel") {
		t.Errorf("return: %v", body)
	}
	if l, _ := lines[0].(map[string]any); l["sku"] != "SKU-1" || l["quantity"] != 1.0 || l["unit_price_minor"] != 1299.0 {
		t.Errorf("line: %v", lines[0])
	}

	rec, body = do(t, h, "GET", "/returns/"+storedOnly, "")
	if rec.Code != 200 || body["status"] != returns.Requested || body["waiting_for"] != notProcessed ||
		body["order_id"] != "o-known" || len(body["history"].([]any)) != 0 {
		t.Errorf("stored, not processed: %d %v", rec.Code, body)
	}

	for name, id := range map[string]string{
		"unknown return of a known order": schemas.ReturnID("o-known", "nope"),
		"return of an unknown order":      schemas.ReturnID("o-nope", "k"),
		"malformed id":                    "abc",
		"malformed hash":                  "o-known-rXYZ",
		"upper-case hash":                 strings.ToUpper(labelIssued),
	} {
		if rec, body := do(t, h, "GET", "/returns/"+id, ""); rec.Code != 404 || !strings.Contains(body["error"].(string), "unknown return") {
			t.Errorf("%s: %d %v, want 404 unknown return", name, rec.Code, body)
		}
	}
}

func TestReceiveReturn(t *testing.T) {
	cases := []struct {
		name, id, body string
		code           int
		msg            string
	}{
		{"received", labelIssued, `{"condition":"ok"}`, 202, ""},
		{"upper case", labelIssued, `{"condition":"DAMAGED"}`, 202, ""},
		{"bad condition", labelIssued, `{"condition":"broken"}`, 400, `condition must be "ok" or "damaged"`},
		{"unknown condition symbol", labelIssued, `{"condition":"UNKNOWN"}`, 400, "condition must be"},
		{"no condition", labelIssued, `{}`, 400, "condition"},
		{"malformed JSON", labelIssued, `{"condition":`, 400, "malformed JSON"},
		{"label not issued yet", requested, `{"condition":"ok"}`, 409, "the return label is not issued yet; retry"},
		{"not in the view yet", storedOnly, `{"condition":"ok"}`, 409, "the return label is not issued yet; retry"},
		{"expired", expired, `{"condition":"ok"}`, 409, "return is EXPIRED"},
		{"retry after inspection", inspected, `{"condition":"ok"}`, 202, ""},
		{"other condition after inspection", inspected, `{"condition":"damaged"}`, 409, "already received as OK"},
		{"unknown return", schemas.ReturnID("o-known", "nope"), `{"condition":"ok"}`, 404, "unknown return"},
		{"malformed id", "nope", `{"condition":"ok"}`, 404, "unknown return"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := New(&memOrders{byKey: map[string]string{}}, memReader{})
			rec, body := do(t, h, "POST", "/returns/"+c.id+"/received", c.body)
			if rec.Code != c.code {
				t.Fatalf("code %d, want %d (%v)", rec.Code, c.code, body)
			}
			if c.code >= 400 {
				if msg, _ := body["error"].(string); msg == "" || !strings.Contains(msg, c.msg) {
					t.Errorf("error %q, want it to mention %q", msg, c.msg)
				}
				return
			}
			if body["return_id"] != c.id || body["status"] != returns.Received {
				t.Errorf("answer %v", body)
			}
		})
	}

	// a retry with the same condition is 202 and writes once; another condition is 409
	store := &memOrders{byKey: map[string]string{}}
	h := New(store, memReader{})
	for i, want := range []int{202, 202} {
		if rec, body := do(t, h, "POST", "/returns/"+labelIssued+"/received", `{"condition":"Ok"}`); rec.Code != want {
			t.Fatalf("receipt %d: %d %v", i+1, rec.Code, body)
		}
	}
	if rec, body := do(t, h, "POST", "/returns/"+labelIssued+"/received", `{"condition":"damaged"}`); rec.Code != 409 {
		t.Errorf("another condition: %d %v, want 409", rec.Code, body)
	}
	if len(store.traces) != 1 || !validTraceparent(store.traces[0]) {
		t.Errorf("traceparents %q, want one write with a traceparent", store.traces)
	}
}

// With authentication: a customer requests and follows returns of its own orders only (another
// customer's order or return is 404, as if unknown); only operations record a receipt.
func TestReturnScopes(t *testing.T) {
	keys, err := auth.ParseKeys(strings.NewReader(testKeys))
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(who string) []string { return []string{"Authorization", "Bearer 0123456789abcdef-" + who} }
	with := func(hdr []string, more ...string) []string { return append(append([]string{}, hdr...), more...) }
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		code                     int
	}{
		{"owner requests", "POST", "/orders/o-known/returns", returnBody("SKU-1", 1, ""), with(bearer("alice"), "Idempotency-Key", "k-a"), 202},
		{"operations request", "POST", "/orders/o-known/returns", returnBody("SKU-1", 1, ""), with(bearer("ops"), "Idempotency-Key", "k-o"), 202},
		{"another customer requests", "POST", "/orders/o-known/returns", returnBody("SKU-1", 1, ""), with(bearer("bob"), "Idempotency-Key", "k-b"), 404},
		{"another customer requests on a placed order", "POST", "/orders/o-placed/returns", returnBody("SKU-1", 1, ""), with(bearer("alice"), "Idempotency-Key", "k-b"), 404},
		{"no token", "POST", "/orders/o-known/returns", returnBody("SKU-1", 1, ""), []string{"Idempotency-Key", "k-n"}, 401},
		{"owner reads", "GET", "/returns/" + labelIssued, "", bearer("alice"), 200},
		{"owner reads a stored return", "GET", "/returns/" + storedOnly, "", bearer("alice"), 200},
		{"operations read", "GET", "/returns/" + labelIssued, "", bearer("ops"), 200},
		{"another customer reads", "GET", "/returns/" + labelIssued, "", bearer("bob"), 404},
		{"another customer reads a stored return", "GET", "/returns/" + storedOnly, "", bearer("bob"), 404},
		{"customer records a receipt", "POST", "/returns/" + labelIssued + "/received", `{"condition":"ok"}`, bearer("alice"), 403},
		{"operations record a receipt", "POST", "/returns/" + labelIssued + "/received", `{"condition":"ok"}`, bearer("ops"), 202},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := New(&memOrders{byKey: map[string]string{}}, memReader{}, WithAuth(keys, 1000, 1000))
			rec, body := do(t, h, c.method, c.path, c.body, c.hdr...)
			if rec.Code != c.code {
				t.Fatalf("%d %v, want %d", rec.Code, body, c.code)
			}
		})
	}

	// another customer's return and an unknown one answer alike
	h := New(&memOrders{byKey: map[string]string{}}, memReader{}, WithAuth(keys, 1000, 1000))
	get := func(id, who string) *httptest.ResponseRecorder {
		rec, _ := do(t, h, "GET", "/returns/"+id, "", bearer(who)...)
		return rec
	}
	other, ops := get(labelIssued, "bob"), get(labelIssued, "ops")
	if other.Code != 404 || ops.Code != 200 {
		t.Fatalf("bob %d, ops %d", other.Code, ops.Code)
	}
	id := schemas.ReturnID("o-bob", "k")
	if got, want := other.Body.String(), strings.ReplaceAll(get(id, "bob").Body.String(), id, labelIssued); got != want {
		t.Errorf("another customer's return answers %q, an unknown one %q", got, want)
	}
}
