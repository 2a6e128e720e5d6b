package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/processors/orders"
)

// memPerson is an order's personal data as the memOrders store keeps it. The real store keeps
// it sealed by the keystore; this one stands in for store and keystore alike: a customer's
// data is revealed as "[erased]" once EraseCustomer destroyed its (one) key.
type memPerson struct {
	customer string
	data     orders.PersonalData
}

func (m *memOrders) remember(orderID string, req orders.NewOrder) {
	p := orders.PersonalData{Name: req.CustomerName, Email: req.CustomerEmail, Address: req.ShippingAddress}
	if p == (orders.PersonalData{}) {
		return
	}
	if m.people == nil {
		m.people, m.erased = map[string]memPerson{}, map[string]bool{}
	}
	m.people[orderID] = memPerson{customer: req.CustomerID, data: p}
	delete(m.erased, req.CustomerID) // a new order seals with a new key
}

func (m *memOrders) Personal(ctx context.Context, id string) (string, orders.PersonalData, bool, error) {
	m.personalReads++
	person, ok := m.people[id]
	if !ok {
		customer, placed, err := m.Owner(ctx, id)
		return customer, orders.PersonalData{}, placed, err
	}
	p := person.data
	if m.erased[person.customer] {
		for _, f := range []*string{&p.Name, &p.Email, &p.Address} {
			if *f != "" {
				*f = "[erased]"
			}
		}
	}
	return person.customer, p, true, nil
}

func (m *memOrders) EraseCustomer(_ context.Context, customer string) (int, error) {
	if !orders.ValidCustomerID(customer) {
		return 0, fmt.Errorf("%w: customer id must be 1-128 letters, digits or ._:- characters", orders.ErrInvalid)
	}
	keys := 0
	for _, p := range m.people {
		if p.customer == customer && !m.erased[customer] {
			keys = 1
		}
	}
	if keys > 0 {
		m.erased[customer] = true
	}
	return keys, nil
}

const personalOrder = `{"customer_id":"c-known","currency":"EUR","items":[{"sku":"SKU-1","quantity":1,"unit_price_cents":100}],
	"customer_name":"Zoë Müller","customer_email":"zoe@example.org","shipping_address":"Hauptstraße 1, 10115 Berlin"}`

// An order's personal data is answered revealed to its customer and to operations, never to
// another customer; DELETE /customers/{id} (operations only) erases it, after which it reads as
// "[erased]", and erasing again destroys nothing.
func TestPersonalDataAndErasure(t *testing.T) {
	keys, err := auth.ParseKeys(strings.NewReader(testKeys))
	if err != nil {
		t.Fatal(err)
	}
	store := &memOrders{byKey: map[string]string{}}
	h := New(store, memReader{}, WithAuth(keys, 1000, 1000))
	bearer := func(who string) []string { return []string{"Authorization", "Bearer 0123456789abcdef-" + who} }

	rec, body := do(t, h, "POST", "/orders", personalOrder, bearer("alice")...)
	if rec.Code != 201 {
		t.Fatalf("POST with personal data: %d %v", rec.Code, body)
	}
	id := body["order_id"].(string)
	want := map[string]any{"customer_name": "Zoë Müller", "customer_email": "zoe@example.org", "shipping_address": "Hauptstraße 1, 10115 Berlin"}
	for _, who := range []string{"alice", "ops"} {
		rec, body := do(t, h, "GET", "/orders/"+id, "", bearer(who)...)
		if rec.Code != 200 || fmt.Sprint(body["personal"]) != fmt.Sprint(want) {
			t.Errorf("GET as %s: %d personal %v, want %v", who, rec.Code, body["personal"], want)
		}
	}
	reads := store.personalReads
	if rec, _ := do(t, h, "GET", "/orders/"+id, "", bearer("bob")...); rec.Code != 404 || strings.Contains(rec.Body.String(), "Zo") {
		t.Errorf("GET as another customer: %d %s, want 404 without the personal data", rec.Code, rec.Body.String())
	}
	if store.personalReads != reads {
		t.Error("personal data was revealed for a caller who may not see the order")
	}
	if _, body := do(t, h, "GET", "/orders/o-known", "", bearer("alice")...); body["status"] != "SHIPPED" || body["personal"] != nil {
		t.Errorf("an order without personal data: %v, want no personal object", body)
	}
	if _, body := do(t, h, "GET", "/orders?limit=10", "", bearer("ops")...); strings.Contains(fmt.Sprint(body), "Zo") {
		t.Errorf("the order list reveals personal data: %v", body)
	}

	if rec, body := do(t, h, "DELETE", "/customers/c-known", "", bearer("alice")...); rec.Code != 403 {
		t.Errorf("a customer erasing: %d %v, want 403", rec.Code, body)
	}
	rec, body = do(t, h, "DELETE", "/customers/c-known", "", bearer("ops")...)
	if rec.Code != 200 || body["customer_id"] != "c-known" || body["erased_keys"] != float64(1) {
		t.Fatalf("erase: %d %v, want 200 with erased_keys 1", rec.Code, body)
	}
	_, body = do(t, h, "GET", "/orders/"+id, "", bearer("alice")...)
	erased := map[string]any{"customer_name": "[erased]", "customer_email": "[erased]", "shipping_address": "[erased]"}
	if fmt.Sprint(body["personal"]) != fmt.Sprint(erased) {
		t.Errorf("after erasure: personal %v, want %v", body["personal"], erased)
	}
	rec, body = do(t, h, "DELETE", "/customers/c-known", "", bearer("ops")...)
	if rec.Code != 200 || body["erased_keys"] != float64(0) {
		t.Errorf("erase again: %d %v, want 200 with erased_keys 0", rec.Code, body)
	}
	if rec, body := do(t, h, "DELETE", "/customers/c-never", "", bearer("ops")...); rec.Code != 200 || body["erased_keys"] != float64(0) {
		t.Errorf("erase a customer without personal data: %d %v, want 200 with erased_keys 0", rec.Code, body)
	}
}

// Malformed personal fields and customer ids are 4xx JSON with a message that does not repeat
// the personal data.
func TestPersonalBadInput(t *testing.T) {
	h := New(&memOrders{byKey: map[string]string{}}, memReader{})
	withField := func(field, value string) string {
		return strings.TrimSuffix(good, "}") + fmt.Sprintf(`,%q:%q}`, field, value)
	}
	cases := []struct {
		name, method, path, body string
		code                     int
		says, secret             string
	}{
		{"email without @", "POST", "/orders", withField("customer_email", "zoe.example.org"), 400, "customer_email", "zoe.example.org"},
		{"email with two @", "POST", "/orders", withField("customer_email", "zoe@@example.org"), 400, "customer_email", "zoe@@example.org"},
		{"email too long", "POST", "/orders", withField("customer_email", strings.Repeat("z", 251)+"@x.y"), 400, "at most 254 bytes", "zzzz"},
		{"name too long", "POST", "/orders", withField("customer_name", strings.Repeat("Zoë", 51)), 400, "customer_name must be at most 200 bytes", "ZoëZoë"},
		{"address too long", "POST", "/orders", withField("shipping_address", strings.Repeat("a", 1001)), 400, "shipping_address", "aaaa"},
		{"name not a string", "POST", "/orders", strings.TrimSuffix(good, "}") + `,"customer_name":42}`, 400, "malformed JSON", ""},
		{"unknown personal field", "POST", "/orders", withField("customer_phone", "+49 30 1234"), 400, "customer_phone", ""},
		{"malformed customer id", "DELETE", "/customers/-c", "", 400, "malformed customer id", ""},
		{"customer id with a slash", "DELETE", "/customers/c%2F1", "", 400, "malformed customer id", ""},
		{"customer id too long", "DELETE", "/customers/" + strings.Repeat("c", 129), "", 400, "malformed customer id", ""},
		{"no customer id", "DELETE", "/customers/", "", 404, "no such endpoint", ""},
		{"customers collection", "DELETE", "/customers", "", 404, "no such endpoint", ""},
		{"wrong method", "GET", "/customers/c-1", "", 405, "method not allowed", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, body := do(t, h, c.method, c.path, c.body)
			msg, _ := body["error"].(string)
			if rec.Code != c.code || !strings.Contains(msg, c.says) {
				t.Fatalf("%d %q, want %d saying %q", rec.Code, msg, c.code, c.says)
			}
			if c.secret != "" && strings.Contains(rec.Body.String(), c.secret) {
				t.Errorf("the answer repeats the personal data: %s", rec.Body.String())
			}
		})
	}
	// within the bounds: placed
	ok := strings.TrimSuffix(good, "}") + `,"customer_name":"` + strings.Repeat("n", 200) + `","customer_email":"` +
		strings.Repeat("e", 250) + `@x.y","shipping_address":"` + strings.Repeat("a", 1000) + `"}`
	if rec, body := do(t, h, "POST", "/orders", ok); rec.Code != 201 {
		t.Errorf("personal fields at their bounds: %d %v", rec.Code, body)
	}
}

// brokenStore fails to read personal data and to erase, with errors that hold secrets.
type brokenStore struct{ memOrders }

func (*brokenStore) Personal(context.Context, string) (string, orders.PersonalData, bool, error) {
	return "", orders.PersonalData{}, false, errors.New(`keystore: master key /var/lib/orderflow/master.key: password=s3cret`)
}

func (*brokenStore) EraseCustomer(context.Context, string) (int, error) {
	return 0, errors.New(`keystore: DELETE FROM pii_keys: password=s3cret`)
}

// A failed erasure is a 503 with a request id; the cause stays in the log. A failed read of
// personal data costs only the personal fields: the order's status still answers from the view.
func TestPersonalStoreFailuresHideTheirCause(t *testing.T) {
	h := New(&brokenStore{memOrders{byKey: map[string]string{}}}, memReader{})
	rec, body := do(t, h, "DELETE", "/customers/c-known", "")
	if rec.Code != 503 || body["request_id"] == "" || strings.Contains(rec.Body.String(), "s3cret") || strings.Contains(rec.Body.String(), "keystore") {
		t.Errorf("DELETE /customers/c-known: %d %s", rec.Code, rec.Body.String())
	}
	rec, body = do(t, h, "GET", "/orders/o-known", "")
	if rec.Code != 200 || body["status"] != "SHIPPED" || body["personal"] != nil || strings.Contains(rec.Body.String(), "s3cret") {
		t.Errorf("GET /orders/o-known with the store down: %d %s, want 200 with the status and no personal data", rec.Code, rec.Body.String())
	}
}
