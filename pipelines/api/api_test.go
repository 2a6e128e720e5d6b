package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/pipelines/views"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas"
)

// memOrders validates like the real store and keeps orders in memory; the HTTP layer is what
// these tests exercise (the store itself is tested on PostgreSQL by the integration tests). Its
// return methods are in returns_test.go.
type memOrders struct {
	byKey   map[string]string
	returns map[string]*memReturn // by return id; seeded on first use (seedReturns)
	traces  []string              // traceparents of the return writes
	people  map[string]memPerson  // personal data by order id (customers_test.go)
	erased  map[string]bool       // customers erased since their last personal data
	// personalReads counts Personal calls (each reveals an order's personal data)
	personalReads int
}

func (m *memOrders) Place(_ context.Context, req orders.NewOrder, key, _ string) (orders.Placed, error) {
	if err := req.Validate(); err != nil {
		return orders.Placed{}, err
	}
	if id, ok := m.byKey[key]; ok && key != "" {
		return orders.Placed{OrderID: id}, nil
	}
	id := "o-" + req.CustomerID
	if key != "" {
		m.byKey[key] = id
	}
	m.remember(id, req)
	return orders.Placed{OrderID: id, Created: true}, nil
}
func (m *memOrders) SetStock(_ context.Context, sku string, n int64, _ string) (string, error) {
	return "e", orders.ValidateStock(sku, n)
}
func (m *memOrders) Owner(_ context.Context, id string) (string, bool, error) {
	if p, ok := m.people[id]; ok {
		return p.customer, true, nil
	}
	if id == "o-placed" {
		return "c-placed", true, nil
	}
	if id == "o-known" || id == "o-full" {
		return "c-known", true, nil
	}
	return "", false, nil
}

type memReader struct{}

func (memReader) Ready() bool { return true }
func (memReader) Status(id string) (schemas.OrderStatus, bool, error) {
	if id == "o-known" || id == "o-full" {
		return schemas.OrderStatus{OrderID: id, CustomerID: "c-known", Status: schemas.StatusShipped}, true, nil
	}
	return schemas.OrderStatus{}, false, nil
}
func (memReader) List(schemas.Status, int) ([]schemas.OrderStatus, error) { return nil, nil }
func (memReader) Stock(sku string) (views.Stock, error)                   { return views.Stock{SKU: sku}, nil }
func (r memReader) WaitFor(ctx context.Context, id string, match func(schemas.OrderStatus) bool) (schemas.OrderStatus, bool, error) {
	s, ok, _ := r.Status(id)
	if ok && match(s) {
		return s, true, nil
	}
	<-ctx.Done()
	return s, ok, ctx.Err()
}

func do(t *testing.T, h http.Handler, method, path, body string, hdr ...string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", method, path, rec.Body.String())
	}
	return rec, out
}

const good = `{"customer_id":"c-1","currency":"EUR","items":[{"sku":"SKU-1","quantity":2,"unit_price_cents":1299}]}`

func TestBadInputGets4xxJSON(t *testing.T) {
	h := New(&memOrders{byKey: map[string]string{}}, memReader{})
	cases := []struct {
		name, method, path, body string
		code                     int
	}{
		{"malformed JSON", "POST", "/orders", `{"customer_id":`, 400},
		{"unknown field", "POST", "/orders", `{"customer_id":"c","currency":"EUR","items":[],"coupon":"x"}`, 400},
		{"empty items", "POST", "/orders", `{"customer_id":"c-1","currency":"EUR","items":[]}`, 400},
		{"quantity 0", "POST", "/orders", strings.Replace(good, `"quantity":2`, `"quantity":0`, 1), 400},
		{"negative quantity", "POST", "/orders", strings.Replace(good, `"quantity":2`, `"quantity":-1`, 1), 400},
		{"bad currency", "POST", "/orders", strings.Replace(good, `"EUR"`, `"euro"`, 1), 400},
		{"two JSON values", "POST", "/orders", good + good, 400},
		{"trailing brace", "POST", "/orders", good + "}", 400},
		{"empty body", "POST", "/orders", ``, 400},
		{"body over 1 MiB", "POST", "/orders", `{"customer_id":"` + strings.Repeat("x", MaxBody) + `"}`, 413},
		{"unknown order", "GET", "/orders/o-nope", "", 404},
		{"bad wait_for", "GET", "/orders/o-known?wait_for=SOON", "", 400},
		{"bad timeout", "GET", "/orders/o-known?wait_for=terminal&timeout=forever", "", 400},
		{"bad list status", "GET", "/orders?status=LOST", "", 400},
		{"bad limit", "GET", "/orders?limit=0", "", 400},
		{"stock without available", "PUT", "/inventory/SKU-1", `{}`, 400},
		{"negative stock", "PUT", "/inventory/SKU-1", `{"available":-5}`, 400},
		{"no such endpoint", "GET", "/nope", "", 404},
		{"wrong method", "DELETE", "/orders", "", 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, body := do(t, h, c.method, c.path, c.body)
			if rec.Code != c.code {
				t.Errorf("code %d, want %d (%v)", rec.Code, c.code, body)
			}
			if msg, _ := body["error"].(string); msg == "" {
				t.Errorf("no error message in %v", body)
			}
		})
	}
}

func TestPlaceOrderAndIdempotentRetry(t *testing.T) {
	h := New(&memOrders{byKey: map[string]string{}}, memReader{})
	rec, body := do(t, h, "POST", "/orders", good, "Idempotency-Key", "k1")
	if rec.Code != 201 || body["status"] != "PLACED" || rec.Header().Get("Location") != "/orders/"+body["order_id"].(string) {
		t.Fatalf("first POST: %d %v %q", rec.Code, body, rec.Header().Get("Location"))
	}
	rec2, body2 := do(t, h, "POST", "/orders", good, "Idempotency-Key", "k1")
	if rec2.Code != 200 || body2["order_id"] != body["order_id"] {
		t.Fatalf("retry: %d %v, want 200 with the same order", rec2.Code, body2)
	}
}

func TestGetOrder(t *testing.T) {
	h := New(&memOrders{byKey: map[string]string{}}, memReader{})
	_, body := do(t, h, "GET", "/orders/o-known?wait_for=terminal&timeout=1s", "")
	if body["status"] != "SHIPPED" || body["timed_out"] != false {
		t.Errorf("known order: %v", body)
	}
	_, body = do(t, h, "GET", "/orders/o-placed?wait_for=SHIPPED&timeout=20ms", "")
	if body["status"] != "PLACED" || body["timed_out"] != true {
		t.Errorf("placed but not yet captured: %v", body)
	}
}

func items(n int, quantity, price string) string {
	line := `{"sku":"SKU-1","quantity":` + quantity + `,"unit_price_cents":` + price + `}`
	return `{"customer_id":"c-1","currency":"EUR","items":[` + strings.TrimSuffix(strings.Repeat(line+",", n), ",") + `]}`
}

// Amounts beyond the bounds of package schemas, or whose total would wrap int64 (the order of
// issue 11: 18 lines of 10^6 × 10^12), get a 400 with a message, never a wrapped total.
func TestAmountBounds(t *testing.T) {
	h := New(&memOrders{byKey: map[string]string{}}, memReader{})
	cases := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"18 lines of 10^6 × 10^12", items(18, "1000000", "1000000000000"), 400, "order total exceeds the maximum of 1000000000000000"},
		{"total one over the maximum", items(2, "1000000", "500000001"), 400, "order total exceeds the maximum"},
		{"quantity over the maximum", items(1, "1000001", "1"), 400, "quantity 1000001 > 1000000"},
		{"quantity beyond int32", items(1, "4294967297", "1"), 400, "quantity 4294967297 > 1000000"},
		{"negative price", items(1, "1", "-1"), 400, "unit price -1 < 0"},
		{"price over the maximum", items(1, "1", "1000000000001"), 400, "unit price 1000000000001 > 1000000000000"},
		{"price beyond int64", items(1, "1", "9223372036854775808"), 400, "malformed JSON"},
		{"too many lines", items(schemas.MaxLines+1, "1", "1"), 400, "1 to 500 lines"},
		{"total exactly at the maximum", items(1, "1000000", "1000000000"), 201, ""},
		{"max quantity at max price is over the total", items(1, "1000000", "1000000000000"), 400, "exceeds the maximum"},
		{"free items", items(3, "5", "0"), 201, ""},
		{"stock over the maximum", "", 400, "available must be between 0 and 1000000000000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method, path, body := "POST", "/orders", c.body
			if body == "" {
				method, path, body = "PUT", "/inventory/SKU-1", `{"available":1000000000001}`
			}
			rec, out := do(t, h, method, path, body)
			if rec.Code != c.code {
				t.Fatalf("code %d, want %d (%v)", rec.Code, c.code, out)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, c.msg) || (c.msg != "" && msg == "") {
				t.Errorf("error %q, want it to mention %q", msg, c.msg)
			}
		})
	}
	if rec, out := do(t, h, "PUT", "/inventory/SKU-1", `{"available":1000000000000}`); rec.Code != 202 {
		t.Errorf("stock at the maximum: %d %v", rec.Code, out)
	}
}

// The API's own limits (orders) stay within the event contract's (schemas), so an order the API
// accepts is never dead-lettered by a processor.
func TestOrderLimitsWithinContract(t *testing.T) {
	if orders.MaxItems > schemas.MaxLines || orders.MaxQuantity > schemas.MaxQuantity {
		t.Errorf("orders allows %d items of up to %d units; OrderPlaced allows %d lines of up to %d",
			orders.MaxItems, orders.MaxQuantity, schemas.MaxLines, schemas.MaxQuantity)
	}
}

const testKeys = `
ops   0123456789abcdef-ops    operations
alice 0123456789abcdef-alice  customer customer=c-known
bob   0123456789abcdef-bob    customer customer=c-bob
`

// With authentication on: no token is 401, a token without the endpoint's scope 403, a customer
// sees and places only its own orders (another customer's order is 404, as if unknown), and a
// caller beyond its rate limit gets 429 with Retry-After.
func TestAuthenticationAndScopes(t *testing.T) {
	keys, err := auth.ParseKeys(strings.NewReader(testKeys))
	if err != nil {
		t.Fatal(err)
	}
	h := New(&memOrders{byKey: map[string]string{}}, memReader{}, WithAuth(keys, 1000, 1000))
	bearer := func(who string) []string { return []string{"Authorization", "Bearer 0123456789abcdef-" + who} }
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		code                     int
	}{
		{"health is public", "GET", "/healthz", "", nil, 200},
		{"no token", "GET", "/orders/o-known", "", nil, 401},
		{"unknown token", "GET", "/orders/o-known", "", bearer("mallory"), 401},
		{"not bearer", "GET", "/orders/o-known", "", []string{"Authorization", "Basic 0123456789abcdef-ops"}, 401},
		{"own order", "GET", "/orders/o-known", "", bearer("alice"), 200},
		{"another customer's order", "GET", "/orders/o-known", "", bearer("bob"), 404},
		{"another customer's order, long poll", "GET", "/orders/o-known?wait_for=terminal&timeout=30s", "", bearer("bob"), 404},
		{"operations read any order", "GET", "/orders/o-known", "", bearer("ops"), 200},
		{"customer lists all orders", "GET", "/orders", "", bearer("alice"), 403},
		{"operations list", "GET", "/orders", "", bearer("ops"), 200},
		{"customer sets stock", "PUT", "/inventory/SKU-1", `{"available":5}`, bearer("alice"), 403},
		{"customer reads stock", "GET", "/inventory/SKU-1", "", bearer("alice"), 403},
		{"operations set stock", "PUT", "/inventory/SKU-1", `{"available":5}`, bearer("ops"), 202},
		{"customer orders for another", "POST", "/orders", good, bearer("alice"), 403},
		{"customer orders for itself", "POST", "/orders", strings.Replace(good, `"c-1"`, `"c-known"`, 1), bearer("alice"), 201},
		{"customer id from the token", "POST", "/orders", strings.Replace(good, `"customer_id":"c-1",`, ``, 1), bearer("bob"), 201},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, body := do(t, h, c.method, c.path, c.body, c.hdr...)
			if rec.Code != c.code {
				t.Fatalf("%d %v, want %d", rec.Code, body, c.code)
			}
			if c.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	limited := New(&memOrders{byKey: map[string]string{}}, memReader{}, WithAuth(keys, 1, 2))
	codes := []int{}
	var last *httptest.ResponseRecorder
	for range 3 {
		last, _ = do(t, limited, "GET", "/orders/o-known", "", bearer("alice")...)
		codes = append(codes, last.Code)
	}
	if codes[2] != 429 || last.Header().Get("Retry-After") == "" {
		t.Errorf("codes %v, Retry-After %q; want the third refused with 429 and Retry-After", codes, last.Header().Get("Retry-After"))
	}
	if rec, _ := do(t, limited, "GET", "/orders/o-known", "", bearer("ops")...); rec.Code != 200 {
		t.Errorf("another caller limited too: %d", rec.Code)
	}
}

// A failure of a dependency answers a generic 5xx with a request id; the cause stays in the log.
func TestInternalErrorsHideTheirCause(t *testing.T) {
	h := New(&failingOrders{}, memReader{})
	rec, body := do(t, h, "POST", "/orders", good)
	if rec.Code != 503 || body["request_id"] == "" || strings.Contains(rec.Body.String(), "password") {
		t.Errorf("%d %s", rec.Code, rec.Body.String())
	}
}

type failingOrders struct{ memOrders }

func (*failingOrders) Place(context.Context, orders.NewOrder, string, string) (orders.Placed, error) {
	return orders.Placed{}, errors.New(`failed to connect to user=orderflow password=s3cret host=db: refused`)
}

// Operational endpoints guarded by RequireOperations: 401 without a token, 403 for a customer,
// through for operations.
func TestRequireOperations(t *testing.T) {
	keys, err := auth.ParseKeys(strings.NewReader(testKeys))
	if err != nil {
		t.Fatal(err)
	}
	h := RequireOperations(keys, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"ok": "yes"}) }))
	for who, want := range map[string]int{"": 401, "alice": 403, "ops": 200} {
		var hdr []string
		if who != "" {
			hdr = []string{"Authorization", "Bearer 0123456789abcdef-" + who}
		}
		if rec, _ := do(t, h, "GET", "/metrics", "", hdr...); rec.Code != want {
			t.Errorf("%q: %d, want %d", who, rec.Code, want)
		}
	}
}

// heldReader is memReader whose WaitFor reports on waiting and then holds until release gets a
// value (or the request's context ends).
type heldReader struct {
	memReader
	waiting chan string
	release chan struct{}
}

func (r heldReader) WaitFor(ctx context.Context, id string, _ func(schemas.OrderStatus) bool) (schemas.OrderStatus, bool, error) {
	r.waiting <- id
	select {
	case <-r.release:
		return schemas.OrderStatus{OrderID: id, CustomerID: "c-placed", Status: schemas.StatusShipped}, true, nil
	case <-ctx.Done():
		return schemas.OrderStatus{}, false, ctx.Err()
	}
}

// With the long-poll cap at 2 and two requests waiting, a third request that would wait is
// refused at once with 503, Retry-After and a JSON error; requests that do not wait (no wait_for,
// or a status already reached) pass; once a wait ends, a new one is accepted.
func TestLongPollCap(t *testing.T) {
	reader := heldReader{waiting: make(chan string, 10), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	h := New(&memOrders{byKey: map[string]string{}}, reader, WithMaxLongPolls(2), WithMetrics(reg))
	const waiting = "/orders/o-placed?wait_for=SHIPPED&timeout=30s"

	answers := make(chan *httptest.ResponseRecorder, 3)
	longPoll := func() {
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", waiting, nil))
			answers <- rec
		}()
		select {
		case <-reader.waiting:
		case <-time.After(5 * time.Second):
			t.Fatal("a long poll under the cap did not start waiting")
		}
	}
	longPoll()
	longPoll()

	start := time.Now()
	rec, body := do(t, h, "GET", "/orders/o-placed?wait_for=SHIPPED&timeout=2s", "") // were it to wait, 2 s at most
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("third long poll: %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if msg, _ := body["error"].(string); !strings.Contains(msg, "at most 2") {
		t.Errorf("third long poll's error %q, want it to name the cap", msg)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the refusal took %s; want it at once", d)
	}
	select {
	case id := <-reader.waiting:
		t.Errorf("the refused request waited on %s", id)
	default:
	}
	// what an operator sees in /metrics at that moment
	for name, want := range map[string]float64{"orderflow_api_long_polls_waiting": 2, "orderflow_api_long_polls_max": 2,
		"orderflow_api_long_polls_refused_total": 1} {
		if got := gathered(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	if rec, body := do(t, h, "GET", "/orders/o-placed", ""); rec.Code != http.StatusOK {
		t.Errorf("a plain GET at the cap: %d %v, want 200", rec.Code, body)
	}
	if rec, body := do(t, h, "GET", "/orders/o-known?wait_for=terminal&timeout=30s", ""); rec.Code != http.StatusOK || body["status"] != "SHIPPED" {
		t.Errorf("a long poll whose status is already reached, at the cap: %d %v, want 200 SHIPPED", rec.Code, body)
	}

	reader.release <- struct{}{} // one wait ends …
	select {
	case rec := <-answers:
		if rec.Code != http.StatusOK {
			t.Errorf("the released long poll answered %d %s", rec.Code, rec.Body.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the released long poll did not answer")
	}
	longPoll() // … and its slot takes a new one
	reader.release <- struct{}{}
	reader.release <- struct{}{}
	for range 2 {
		if rec := <-answers; rec.Code != http.StatusOK {
			t.Errorf("a long poll answered %d %s", rec.Code, rec.Body.String())
		}
	}
}

// gathered returns the value of the one series of a gauge or counter in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name || len(f.GetMetric()) != 1 {
			continue
		}
		m := f.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}
