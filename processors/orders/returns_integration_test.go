//go:build integration

package orders_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// outboxRow is an outbox insert as the logging trigger kept it.
type outboxRow struct {
	aggregateType, aggregateID, typ string
	payload                         []byte
	traceparent                     *string
}

// returnsFixture migrates a fresh schema with a trigger logging every outbox insert (the rows
// leave in the transaction that writes them) and places an order with lines A × 2 at 150, B × 1
// at 99 and A × 1 at 200.
func returnsFixture(t *testing.T) (context.Context, *orders.Store, *codec.Serde, string, func() []outboxRow) {
	t.Helper()
	ctx, pg, store, serde, schema := migratedStore(t, "orders_returns_")
	if err := store.Migrate(ctx); err != nil { // the migration is idempotent
		t.Fatal(err)
	}
	if _, err := pg.Exec(ctx, `CREATE TABLE `+schema+`.outbox_inserts (seq serial, aggregatetype text, aggregateid text,
			type text, payload bytea, tracingspancontext text);
		CREATE FUNCTION `+schema+`.log_outbox_insert() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN INSERT INTO `+schema+`.outbox_inserts (aggregatetype, aggregateid, type, payload, tracingspancontext)
				VALUES (NEW.aggregatetype, NEW.aggregateid, NEW.type, NEW.payload, NEW.tracingspancontext); RETURN NEW; END; $$;
		CREATE TRIGGER log_insert AFTER INSERT ON `+schema+`.outbox
			FOR EACH ROW EXECUTE FUNCTION `+schema+`.log_outbox_insert();`); err != nil {
		t.Fatal(err)
	}
	placed, err := store.Place(ctx, orders.NewOrder{CustomerID: "c-1", Currency: "EUR", Items: []orders.Item{
		{SKU: "A", Quantity: 2, UnitPriceMinor: 150}, {SKU: "B", Quantity: 1, UnitPriceMinor: 99}, {SKU: "A", Quantity: 1, UnitPriceMinor: 200}}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	events := func() []outboxRow {
		t.Helper()
		rows, err := pg.Query(ctx, `SELECT aggregatetype, aggregateid, type, payload, tracingspancontext
			FROM `+schema+`.outbox_inserts WHERE type <> 'OrderPlaced' ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (outboxRow, error) {
			var e outboxRow
			return e, r.Scan(&e.aggregateType, &e.aggregateID, &e.typ, &e.payload, &e.traceparent)
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return ctx, store, serde, placed.OrderID, events
}

const testTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// On the real PostgreSQL: a return request writes its row and exactly one ReturnRequested outbox
// event (aggregate "return", keyed by the ORDER id, priced at the order's first line of each SKU);
// a retry with the same key writes nothing and names the same return; the same key with another
// request is an idempotency conflict.
func TestIntegrationRequestReturnIsIdempotent(t *testing.T) {
	ctx, store, serde, orderID, events := returnsFixture(t)
	req := orders.ReturnRequest{OrderID: orderID, Reason: "too small",
		Lines: []orders.ReturnItem{{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 1}, {SKU: "A", Quantity: 1}}}
	first, err := store.RequestReturn(ctx, req, nil, "r-1", testTraceparent)
	if err != nil || !first.Created || first.ReturnID != schemas.ReturnID(orderID, "r-1") {
		t.Fatalf("request: %+v %v", first, err)
	}
	// the same request, lines in another order and merged: a retry
	retry := orders.ReturnRequest{OrderID: orderID, Reason: "too small",
		Lines: []orders.ReturnItem{{SKU: "B", Quantity: 1}, {SKU: "A", Quantity: 2}}}
	again, err := store.RequestReturn(ctx, retry, map[string]int64{"A": 3, "B": 1}, "r-1", "")
	if err != nil || again.Created || again.ReturnID != first.ReturnID {
		t.Fatalf("retry: %+v %v; want the first return, not created (returned is not checked again)", again, err)
	}
	other := req
	other.Reason = "wrong colour"
	if _, err := store.RequestReturn(ctx, other, nil, "r-1", ""); !errors.Is(err, orders.ErrIdempotencyConflict) {
		t.Fatalf("same key, other request: %v; want ErrIdempotencyConflict", err)
	}

	evs := events()
	if len(evs) != 1 {
		t.Fatalf("%d return events, want 1", len(evs))
	}
	e := evs[0]
	if e.aggregateType != topology.AggregateReturn || e.aggregateID != orderID || e.typ != "ReturnRequested" ||
		e.traceparent == nil || *e.traceparent != testTraceparent {
		t.Errorf("outbox row %s/%s %s trace %v; want %s/%s ReturnRequested with the traceparent",
			e.aggregateType, e.aggregateID, e.typ, e.traceparent, topology.AggregateReturn, orderID)
	}
	v, err := serde.Decode(e.payload)
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := v.(schemas.ReturnRequested)
	if !ok {
		t.Fatalf("payload is a %T", v)
	}
	if ev.ReturnID != first.ReturnID || ev.OrderID != orderID || ev.Currency != "EUR" || ev.Reason != "too small" ||
		ev.Meta.EventType != "ReturnRequested" || ev.Meta.CorrelationID != orderID || ev.Meta.OrderID == nil || *ev.Meta.OrderID != orderID {
		t.Errorf("event %+v", ev)
	}
	wantLines := []schemas.ReturnLine{{SKU: "A", Quantity: 2, UnitPriceMinor: 150}, {SKU: "B", Quantity: 1, UnitPriceMinor: 99}}
	wantOrdered := []schemas.ReturnLine{{SKU: "A", Quantity: 2, UnitPriceMinor: 150}, {SKU: "B", Quantity: 1, UnitPriceMinor: 99}, {SKU: "A", Quantity: 1, UnitPriceMinor: 200}}
	if !equalLines(ev.Lines, wantLines) || !equalLines(ev.Ordered, wantOrdered) {
		t.Errorf("lines %+v ordered %+v; want %+v and %+v", ev.Lines, ev.Ordered, wantLines, wantOrdered)
	}
	if err := ev.Validate(); err != nil {
		t.Error(err)
	}
	if got, found, err := store.ReturnOrderID(ctx, first.ReturnID); err != nil || !found || got != orderID {
		t.Errorf("ReturnOrderID: %q %v %v", got, found, err)
	}
	if _, found, err := store.ReturnOrderID(ctx, schemas.ReturnID(orderID, "never")); err != nil || found {
		t.Errorf("ReturnOrderID of an unknown return: %v %v", found, err)
	}
}

func equalLines(a, b []schemas.ReturnLine) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A return may hold at most the ordered units of a SKU less those already returned (across every
// line of the SKU); a SKU the order lacks, an unknown order and a missing key are refused, and
// nothing is written for any of them.
func TestIntegrationRequestReturnBounds(t *testing.T) {
	ctx, store, _, orderID, events := returnsFixture(t)
	one := func(sku string, n int) orders.ReturnRequest {
		return orders.ReturnRequest{OrderID: orderID, Lines: []orders.ReturnItem{{SKU: sku, Quantity: n}}}
	}
	for _, c := range []struct {
		name     string
		req      orders.ReturnRequest
		returned map[string]int64
		key      string
		want     error
		msg      string
	}{
		{"more than ordered", one("A", 4), nil, "b-1", orders.ErrInvalid, "sku A: 4 units asked, only 3 still returnable"},
		{"more than left", one("A", 2), map[string]int64{"A": 2}, "b-2", orders.ErrInvalid, "only 1 still returnable"},
		{"nothing left", one("B", 1), map[string]int64{"B": 1}, "b-3", orders.ErrInvalid, "sku B: 1 units asked, only 0 still returnable"},
		{"sku not in the order", one("Z", 1), nil, "b-4", orders.ErrInvalid, "sku Z is not in order"},
		{"unknown order", orders.ReturnRequest{OrderID: "o-never", Lines: []orders.ReturnItem{{SKU: "A", Quantity: 1}}}, nil, "b-5", orders.ErrNotFound, "unknown order"},
		{"no key", one("A", 1), nil, "", orders.ErrInvalid, "Idempotency-Key"},
		{"key too long", one("A", 1), nil, strings.Repeat("k", 201), orders.ErrInvalid, "Idempotency-Key"},
		{"reason too long", orders.ReturnRequest{OrderID: orderID, Lines: one("A", 1).Lines, Reason: strings.Repeat("x", schemas.MaxReturnReason+1)}, nil, "b-6", orders.ErrInvalid, "reason"},
	} {
		_, err := store.RequestReturn(ctx, c.req, c.returned, c.key, "")
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v; want %v mentioning %q", c.name, err, c.want, c.msg)
		}
	}
	if n := len(events()); n != 0 {
		t.Fatalf("refused requests wrote %d events", n)
	}
	if acc, err := store.RequestReturn(ctx, one("A", 1), map[string]int64{"A": 2}, "b-ok", ""); err != nil || !acc.Created {
		t.Fatalf("the last returnable unit: %+v %v", acc, err)
	}
	if n := len(events()); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
}

// Receiving a return sets its condition once, with one ReturnReceived outbox event keyed by the
// order id; the same receipt again writes nothing; another condition is a conflict; an unknown
// return is not found.
func TestIntegrationReceiveReturnIsIdempotent(t *testing.T) {
	ctx, store, serde, orderID, events := returnsFixture(t)
	acc, err := store.RequestReturn(ctx, orders.ReturnRequest{OrderID: orderID, Lines: []orders.ReturnItem{{SKU: "B", Quantity: 1}}}, nil, "r-1", "")
	if err != nil {
		t.Fatal(err)
	}
	created, err := store.ReceiveReturn(ctx, acc.ReturnID, schemas.ReturnConditionDamaged, testTraceparent)
	if err != nil || !created {
		t.Fatalf("receive: %v %v", created, err)
	}
	if created, err := store.ReceiveReturn(ctx, acc.ReturnID, schemas.ReturnConditionDamaged, ""); err != nil || created {
		t.Fatalf("same receipt again: %v %v; want not created, no error", created, err)
	}
	if _, err := store.ReceiveReturn(ctx, acc.ReturnID, schemas.ReturnConditionOK, ""); !errors.Is(err, orders.ErrConflict) {
		t.Fatalf("another condition: %v; want ErrConflict", err)
	}
	if _, err := store.ReceiveReturn(ctx, schemas.ReturnID(orderID, "never"), schemas.ReturnConditionOK, ""); !errors.Is(err, orders.ErrNotFound) {
		t.Fatalf("unknown return: %v; want ErrNotFound", err)
	}
	if _, err := store.ReceiveReturn(ctx, "not-a-return", schemas.ReturnConditionOK, ""); !errors.Is(err, orders.ErrNotFound) {
		t.Fatalf("malformed return id: %v; want ErrNotFound", err)
	}
	if _, err := store.ReceiveReturn(ctx, acc.ReturnID, schemas.ReturnConditionUnknown, ""); !errors.Is(err, orders.ErrInvalid) {
		t.Fatalf("condition UNKNOWN: %v; want ErrInvalid", err)
	}

	evs := events()
	if len(evs) != 2 || evs[1].typ != "ReturnReceived" {
		t.Fatalf("%d events (%+v), want ReturnRequested and one ReturnReceived", len(evs), evs)
	}
	e := evs[1]
	if e.aggregateType != topology.AggregateReturn || e.aggregateID != orderID || e.traceparent == nil || *e.traceparent != testTraceparent {
		t.Errorf("outbox row %s/%s trace %v", e.aggregateType, e.aggregateID, e.traceparent)
	}
	v, err := serde.Decode(e.payload)
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := v.(schemas.ReturnReceived); !ok || ev.ReturnID != acc.ReturnID || ev.OrderID != orderID ||
		ev.Condition != schemas.ReturnConditionDamaged || ev.Meta.CorrelationID != orderID {
		t.Errorf("event %+v", v)
	}
}
