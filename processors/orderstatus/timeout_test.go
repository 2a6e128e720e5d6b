package orderstatus

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

// timedOut is an OrderTimedOut of o-1 whose deadline fell sec seconds after proctest.At (the
// shipping dates the event at the deadline).
func timedOut(sec int) schemas.OrderTimedOut {
	meta := at(sec)
	meta.EventType = "OrderTimedOut"
	return schemas.OrderTimedOut{Meta: meta, OrderID: "o-1", PlacedAt: proctest.At, Deadline: meta.OccurredAt}
}

// A timeout cancels the order with reason TIMEOUT at the event's time (status, reason,
// cancelled_at, history and one change emitted); the timeout delivered again changes nothing and
// emits its change again, identical; late steps change nothing of the status and emit nothing.
func TestTimeoutCancelsTheOrderAtItsTime(t *testing.T) {
	decide := Decide(proctest.Topology)
	order := proctest.Order("o-1", "c-1", "SKU-1", 1)
	order.PlacedAt, order.Meta = at(0).OccurredAt, at(0)
	timeout := timedOut(900)
	m := streams.Message{Key: "o-1", Timestamp: timeout.Deadline}
	s, _, _ := decide(nil, order, m)
	s, _, _ = decide(s, schemas.PaymentAuthorized{Meta: at(1), OrderID: "o-1"}, m)
	s, first, err := decide(s, timeout, m)
	if err != nil || s.Status != schemas.StatusCancelled || s.Reason == nil || *s.Reason != schemas.CancelTimeout ||
		s.CancelledAt == nil || !s.CancelledAt.Equal(timeout.Meta.OccurredAt) {
		t.Fatalf("timed out: %+v, err %v; want CANCELLED, TIMEOUT, cancelled at the deadline", s, err)
	}
	if last := s.History[len(s.History)-1]; last.Status != schemas.StatusCancelled || !last.At.Equal(timeout.Meta.OccurredAt) {
		t.Errorf("history %+v: want CANCELLED last, at the deadline", s.History)
	}
	if len(first) != 1 {
		t.Fatalf("timeout emitted %d changes, want 1", len(first))
	}
	c := first[0].Event.(schemas.OrderStatusChanged)
	if c.FromStatus != schemas.StatusPaymentAuthorized || c.ToStatus != schemas.StatusCancelled || c.Reason == nil || *c.Reason != schemas.CancelTimeout || c.Version != 3 {
		t.Errorf("change %+v: want PAYMENT_AUTHORIZED → CANCELLED (TIMEOUT), version 3", c)
	}

	again, emits, err := decide(s, timeout, m)
	if again != nil || err != nil || !reflect.DeepEqual(emits, first) {
		t.Errorf("timeout delivered again: state %v err %v emits %+v; want no change and the first change again", again, err, emits)
	}
	for _, late := range []schemas.Event{
		schemas.StockReserved{Meta: at(901), OrderID: "o-1"},
		schemas.ShipmentCreated{Meta: at(902), OrderID: "o-1"},
		schemas.PaymentRefunded{Meta: at(903), OrderID: "o-1"},
		schemas.StockReleased{Meta: at(904), OrderID: "o-1"},
	} {
		next, emits, err := decide(s, late, m)
		if err != nil || len(emits) != 0 || next == nil || next.Status != schemas.StatusCancelled || *next.Reason != schemas.CancelTimeout ||
			!next.CancelledAt.Equal(timeout.Meta.OccurredAt) {
			t.Fatalf("late %T: %+v emits %d err %v; want still CANCELLED (TIMEOUT), nothing emitted", late, next, len(emits), err)
		}
		s = next
	}
}

// Wiring through goka's tester: OrderTimedOut on the deadline events topic cancels the order in
// the Avro table (the TIMEOUT symbol is in the table's schema).
func TestTimeoutThroughTheWiring(t *testing.T) {
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Poison: streams.LogPoison("order-status"),
		Contracts: proctest.Topology.Contracts()}))
	out := h.Track(proctest.Topology.StatusChanges())
	h.Feed(proctest.Topology.OrderEvents(), "o-1", proctest.Order("o-1", "c-1", "SKU-1", 1))
	h.Feed(proctest.Topology.DeadlineEvents(), "o-1", timedOut(900))
	got := out.All()
	if fmt.Sprint(proctest.Types(got)) != "[OrderStatusChanged OrderStatusChanged]" {
		t.Fatalf("changes: %v", proctest.Types(got))
	}
	if c := got[1].Event.(schemas.OrderStatusChanged); c.ToStatus != schemas.StatusCancelled || c.Reason == nil || *c.Reason != schemas.CancelTimeout {
		t.Errorf("change %+v", c)
	}
	st := h.TT.TableValue(proctest.Topology.Table("order-status"), "o-1").(schemas.OrderStatus)
	if st.Status != schemas.StatusCancelled || st.Reason == nil || *st.Reason != schemas.CancelTimeout || st.CancelledAt == nil {
		t.Errorf("table: %+v", st)
	}
}
