package shipping

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

// timedOut is the deadlines processor's OrderTimedOut for an order placed at proctest.At.
func timedOut(orderID string) schemas.OrderTimedOut {
	deadline := proctest.At.Add(15 * time.Minute)
	meta := proctest.Meta("OrderTimedOut", orderID)
	meta.OccurredAt = deadline
	return schemas.OrderTimedOut{Meta: meta, OrderID: orderID, PlacedAt: proctest.At, Deadline: deadline}
}

// A timeout cancels the order for shipping: recorded once, and replayed after a crash it sends
// nothing (no shipment was created).
func TestTimeoutCancelsOnceAndReplaysNothing(t *testing.T) {
	decide := Decide(proctest.Topology)
	m := streams.Message{Key: "o-1", Timestamp: proctest.At}
	timeout := timedOut("o-1")
	paid := schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", "o-1"), OrderID: "o-1"}
	s, _, _ := decide(nil, paid, m)
	s, emits, err := decide(s, timeout, m)
	if err != nil || s == nil || !s.Cancelled || len(emits) != 0 {
		t.Fatalf("timeout: state %+v emits %d err %v; want cancelled, nothing emitted", s, len(emits), err)
	}
	if next, emits, _ := decide(s, timeout, m); next != nil || len(emits) != 0 {
		t.Errorf("timeout delivered again: state %+v emits %d; want no change", next, len(emits))
	}
	replay := m
	replay.Replay = true
	if next, emits, _ := decide(s, timeout, replay); next != nil || len(emits) != 0 {
		t.Errorf("timeout replayed: state %+v emits %d; want nothing", next, len(emits))
	}
}

// Through goka's tester: OrderTimedOut on the deadline events topic passes the eventType
// pre-filter, and the order it cancelled is never shipped.
func TestTimeoutThroughTheWiring(t *testing.T) {
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Poison: streams.LogPoison("shipping"),
		Contracts: proctest.Topology.Contracts()}))
	out := h.Track(proctest.Topology.ShippingEvents())
	h.Feed(proctest.Topology.DeadlineEvents(), "o-1", timedOut("o-1"))
	for _, id := range []string{"o-1", "o-2"} {
		h.Feed(proctest.Topology.PaymentEvents(), id, schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", id), OrderID: id})
		h.Feed(proctest.Topology.InventoryEvents(), id, schemas.StockReserved{Meta: proctest.Meta("StockReserved", id), OrderID: id})
	}
	got := out.All()
	if len(got) != 1 || got[0].Key != "o-2" {
		t.Fatalf("shipments %v: want only o-2's (o-1 timed out)", got)
	}
	if st := h.TT.TableValue(proctest.Topology.Table("shipping"), "o-1").(streams.Envelope[State]).State; !st.Cancelled || st.ShipmentID != "" {
		t.Errorf("table value of o-1 %+v", st)
	}
}
