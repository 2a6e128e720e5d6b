package shipping

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

const deadline = 10 * time.Minute

func fired(orderID string, at time.Time) schemas.TimerFired {
	return schemas.TimerFired{Meta: proctest.Meta("TimerFired", orderID), Key: orderID, Deadline: at}
}

// run feeds events to the decision (each at its time) and returns the final state and the
// OrderTimedOut and ShipmentCreated events emitted.
func run(t *testing.T, events []schemas.Event, at []time.Time) (*State, []schemas.OrderTimedOut, int) {
	t.Helper()
	decide := Decide(proctest.Topology, deadline)
	var s *State
	var out []schemas.OrderTimedOut
	shipped := 0
	for i, ev := range events {
		next, emits, err := decide(s, ev, streams.Message{Key: "o-1", Timestamp: at[i]})
		if err != nil {
			t.Fatal(err)
		}
		if next != nil {
			s = next
		}
		for _, e := range emits {
			switch ev := e.Event.(type) {
			case schemas.OrderTimedOut:
				out = append(out, ev)
			case schemas.ShipmentCreated:
				shipped++
			}
		}
	}
	return s, out, shipped
}

func TestAnOrderNotShippedByItsDeadlineTimesOutOnce(t *testing.T) {
	placed := proctest.Order("o-1", "c-1", "A", 1)
	due := proctest.At.Add(deadline)
	later := due.Add(time.Second)
	paid := schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", "o-1"), OrderID: "o-1"}
	reserved := schemas.StockReserved{Meta: proctest.Meta("StockReserved", "o-1"), OrderID: "o-1"}
	s, out, shipped := run(t, []schemas.Event{placed, reserved, fired("o-1", due), fired("o-1", due), paid},
		[]time.Time{proctest.At, proctest.At, later, later, later})
	if len(out) != 1 || shipped != 0 {
		t.Fatalf("%d OrderTimedOut and %d shipments, want exactly 1 timeout for two firings and no shipment after it", len(out), shipped)
	}
	if got := out[0]; got.OrderID != "o-1" || !got.Deadline.Equal(due) || !got.PlacedAt.Equal(proctest.At) {
		t.Errorf("OrderTimedOut %+v", got)
	}
	if !s.TimedOut || !s.Cancelled {
		t.Errorf("state %+v", s)
	}
	if _, pending := s.PendingDeadline(); pending {
		t.Error("a timed-out order still has a pending deadline")
	}
}

func TestAShippedOrCancelledOrderOrAStaleFiringNeverTimesOut(t *testing.T) {
	placed := proctest.Order("o-1", "c-1", "A", 1)
	due := proctest.At.Add(deadline)
	after := due.Add(time.Minute)
	paid := schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", "o-1"), OrderID: "o-1"}
	reserved := schemas.StockReserved{Meta: proctest.Meta("StockReserved", "o-1"), OrderID: "o-1"}
	cases := map[string]struct {
		events []schemas.Event
		at     []time.Time
	}{
		"shipped first": {[]schemas.Event{placed, paid, reserved, fired("o-1", due)},
			[]time.Time{proctest.At, proctest.At, proctest.At, after}},
		"declined": {[]schemas.Event{placed, schemas.PaymentDeclined{Meta: proctest.Meta("PaymentDeclined", "o-1"), OrderID: "o-1"}, fired("o-1", due)},
			[]time.Time{proctest.At, proctest.At, after}},
		"out of stock before it was placed": {[]schemas.Event{schemas.StockRejected{Meta: proctest.Meta("StockRejected", "o-1"), OrderID: "o-1"}, placed, fired("o-1", due)},
			[]time.Time{proctest.At, proctest.At, after}},
		"a deadline no longer in effect": {[]schemas.Event{placed, fired("o-1", due.Add(-time.Minute))},
			[]time.Time{proctest.At, after}},
		"a firing before its deadline": {[]schemas.Event{placed, fired("o-1", due)},
			[]time.Time{proctest.At, due.Add(-time.Second)}},
		"a firing for an order never placed": {[]schemas.Event{fired("o-1", due)}, []time.Time{after}},
	}
	for name, c := range cases {
		if _, out, _ := run(t, c.events, c.at); len(out) != 0 {
			t.Errorf("%s: %d OrderTimedOut", name, len(out))
		}
	}
}

func TestReplayOfTheFiringSendsTheSameOrderTimedOutAgain(t *testing.T) {
	decide := Decide(proctest.Topology, deadline)
	placed := proctest.Order("o-1", "c-1", "A", 1)
	due := proctest.At.Add(deadline)
	s, _, _ := decide(nil, placed, streams.Message{Key: "o-1", Timestamp: proctest.At})
	f := fired("o-1", due)
	s2, first, _ := decide(s, f, streams.Message{Key: "o-1", Timestamp: due})
	next, again, _ := decide(s2, f, streams.Message{Key: "o-1", Timestamp: due, Replay: true})
	if next != nil || len(first) != 1 || len(again) != 1 {
		t.Fatalf("first %d, replay %d emits (state changed on replay: %v)", len(first), len(again), next != nil)
	}
	if a, b := first[0].Event.Metadata().EventID, again[0].Event.Metadata().EventID; a != b {
		t.Errorf("replayed OrderTimedOut has another event id (%s, %s): consumers could not deduplicate", a, b)
	}
}

// A value written before the deadline fields existed still decodes, with no deadline pending.
func TestStateWrittenBeforeDeadlinesStillDecodes(t *testing.T) {
	w := &streams.Writer{}
	old := State{Authorized: true, Reserved: true}
	old.MarshalState(w) // with no deadline, the earlier layout
	var got State
	r := streams.NewReader(w.Bytes())
	got.UnmarshalState(r)
	if err := r.Done(); err != nil || !got.Authorized || !got.Reserved || !got.PlacedAt.IsZero() || got.TimedOut {
		t.Fatalf("decoded %+v (%v)", got, err)
	}
	withDeadline := State{PlacedAt: proctest.At, Deadline: proctest.At.Add(deadline), TimedOut: true, Cancelled: true}
	w = &streams.Writer{}
	withDeadline.MarshalState(w)
	got = State{}
	r = streams.NewReader(w.Bytes())
	got.UnmarshalState(r)
	if err := r.Done(); err != nil || !got.PlacedAt.Equal(withDeadline.PlacedAt) || !got.Deadline.Equal(withDeadline.Deadline) || !got.TimedOut {
		t.Fatalf("decoded %+v (%v), want %+v", got, err, withDeadline)
	}
}

// Through goka's tester: OrderPlaced sets the deadline in the table (what the scheduler reads),
// a TimerFired on the firings topic makes shipping emit OrderTimedOut on the deadline events
// topic, and the order is never shipped afterwards.
func TestTimeoutThroughTheWiring(t *testing.T) {
	t.Setenv("ORDERFLOW_ORDER_DEADLINE", "1ms")
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Poison: streams.LogPoison("shipping"),
		Contracts: proctest.Topology.Contracts()}))
	timeouts := h.Track(proctest.Topology.DeadlineEvents())
	shipments := h.Track(proctest.Topology.ShippingEvents())
	placed := proctest.Order("o-1", "c-1", "A", 1)
	h.Feed(proctest.Topology.OrderEvents(), "o-1", placed)
	value := h.TT.TableValue(proctest.Topology.Table("shipping"), "o-1")
	if value == nil {
		t.Fatal("no table value after OrderPlaced")
	}
	raw, err := TableCodec().Encode(value)
	if err != nil {
		t.Fatal(err)
	}
	due, pending, err := PendingDeadline("o-1", raw)
	if err != nil || !pending || !due.Equal(placed.PlacedAt.Add(time.Millisecond)) {
		t.Fatalf("pending %v deadline %v (%v)", pending, due, err)
	}
	h.Feed(proctest.Topology.TimerFirings(), "o-1", fired("o-1", due))
	h.Feed(proctest.Topology.PaymentEvents(), "o-1", schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", "o-1"), OrderID: "o-1"})
	h.Feed(proctest.Topology.InventoryEvents(), "o-1", schemas.StockReserved{Meta: proctest.Meta("StockReserved", "o-1"), OrderID: "o-1"})
	if got := timeouts.All(); len(got) != 1 || got[0].Key != "o-1" {
		t.Fatalf("timeouts emitted: %v", proctest.Types(got))
	}
	if got := shipments.All(); len(got) != 0 {
		t.Fatalf("a timed-out order shipped: %v", proctest.Types(got))
	}
}
