package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/pipelines/orders"
	"github.com/orderflow/orderflow/pipelines/views"
	"github.com/orderflow/orderflow/schemas"
)

// memOrders validates like the real store and keeps orders in memory; the HTTP layer is what
// these tests exercise (the store itself is tested on PostgreSQL by the integration tests).
type memOrders struct{ byKey map[string]string }

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
	return orders.Placed{OrderID: id, Created: true}, nil
}
func (m *memOrders) SetStock(_ context.Context, sku string, n int64, _ string) (string, error) {
	return "e", orders.ValidateStock(sku, n)
}
func (m *memOrders) Exists(_ context.Context, id string) (bool, error) { return id == "o-placed", nil }

type memReader struct{}

func (memReader) Ready() bool { return true }
func (memReader) Status(id string) (schemas.OrderStatus, bool, error) {
	if id == "o-known" {
		return schemas.OrderStatus{OrderID: id, Status: schemas.StatusShipped}, true, nil
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
