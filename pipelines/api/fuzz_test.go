package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/schemas"
)

// FuzzHandlers sends arbitrary methods, paths, bodies and tokens to the API (with authentication
// on): whatever arrives, the answer is JSON with a status below 500 and no handler panics. A
// token may carry an Idempotency-Key after a newline ("token\nkey"), which a header value cannot
// hold, so the return requests are explored with and without one.
//
//	go test -run '^$' -fuzz FuzzHandlers -fuzztime 5m ./pipelines/api/
func FuzzHandlers(f *testing.F) {
	keys, err := auth.ParseKeys(strings.NewReader("ops 0123456789abcdef-ops operations\nalice 0123456789abcdef-alice customer customer=c-known"))
	if err != nil {
		f.Fatal(err)
	}
	h := New(&memOrders{byKey: map[string]string{}}, instantReader{}, WithAuth(keys, 1e9, 1e9))
	for _, seed := range []struct{ method, path, body, token string }{
		{"POST", "/orders", good, "0123456789abcdef-ops"},
		{"POST", "/orders", good + "}", "0123456789abcdef-alice"},
		{"GET", "/orders/o-known?wait_for=terminal&timeout=0s", "", "0123456789abcdef-alice"},
		{"GET", "/orders?status=SHIPPED&limit=3", "", "0123456789abcdef-ops"},
		{"PUT", "/inventory/SKU-1", `{"available":5}`, "0123456789abcdef-ops"},
		{"GET", "/inventory/%ZZ", "", ""},
		{"POST", "/orders", `{"customer_id":"c","currency":"EUR","items":[{"sku":"A","quantity":1000000,"unit_price_cents":1000000000000}]}`, "0123456789abcdef-ops"},
		{"POST", "/orders/o-known/returns", `{"lines":[{"sku":"SKU-1","quantity":1}],"reason":"too small"}`, "0123456789abcdef-alice\nk-1"},
		{"POST", "/orders/o-known/returns", `{"lines":[{"sku":"SKU-1","quantity":1},{"sku":"SKU-1","quantity":2}]}`, "0123456789abcdef-ops\nk-2"},
		{"POST", "/orders/o-placed/returns", `{"lines":[{"sku":"SKU-1","quantity":1}]}`, "0123456789abcdef-ops\nk-3"},
		{"POST", "/orders/o-full/returns", `{"lines":[{"sku":"SKU-1"}]}`, "0123456789abcdef-alice"},
		{"GET", "/returns/" + labelIssued, "", "0123456789abcdef-alice"},
		{"GET", "/returns/" + storedOnly, "", "0123456789abcdef-ops"},
		{"GET", "/returns/o-known-r0000000000zz", "", "0123456789abcdef-ops"},
		{"POST", "/returns/" + labelIssued + "/received", `{"condition":"ok"}`, "0123456789abcdef-ops"},
		{"POST", "/returns/" + inspected + "/received", `{"condition":"Damaged"}`, "0123456789abcdef-ops"},
		{"POST", "/returns/" + requested + "/received", `{"condition":"ok"}`, "0123456789abcdef-alice"},
		{"POST", "/orders", personalOrder, "0123456789abcdef-alice\nk-4"},
		{"POST", "/orders", strings.Replace(personalOrder, "zoe@example.org", "zoe@@x", 1), "0123456789abcdef-ops"},
		{"GET", "/orders/o-c-known", "", "0123456789abcdef-alice"},
		{"DELETE", "/customers/c-known", "", "0123456789abcdef-ops"},
		{"DELETE", "/customers/c-known", "", "0123456789abcdef-alice"},
		{"DELETE", "/customers/%2e%2e", "", "0123456789abcdef-ops"},
	} {
		f.Add(seed.method, seed.path, seed.body, seed.token)
	}
	f.Fuzz(func(t *testing.T, method, path, body, token string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://api"+path, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		token, key, _ := strings.Cut(token, "\n")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		rec := httptest.NewRecorder()
		// a client that went away: a long poll must not hold the fuzzer for its whole timeout
		ctx, cancel := context.WithTimeout(req.Context(), 20*time.Millisecond)
		defer cancel()
		req = req.WithContext(ctx)
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q %q: %d %s", method, path, body, rec.Code, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); rec.Body.Len() > 0 && !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s %q: answer of type %q: %q", method, path, ct, rec.Body.String())
		}
	})
}

// instantReader is memReader whose long poll ends at once, as if its timeout had passed: the
// fuzzer explores the API's answers, not the wait (the views' tests cover that).
type instantReader struct{ memReader }

func (r instantReader) WaitFor(ctx context.Context, id string, match func(schemas.OrderStatus) bool) (schemas.OrderStatus, bool, error) {
	s, ok, _ := r.Status(id)
	if ok && match(s) {
		return s, true, nil
	}
	return s, ok, context.DeadlineExceeded
}
