package deadlines

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

const timeout = 10 * time.Minute

func fired(orderID string, deadline time.Time) schemas.TimerFired {
	return schemas.TimerFired{Meta: proctest.Meta("TimerFired", orderID), Key: orderID, Deadline: deadline}
}

// run feeds events to the decision (each at its time) and returns the final state and the
// OrderTimedOut events emitted.
func run(t *testing.T, events []schemas.Event, at []time.Time) (*State, []schemas.OrderTimedOut) {
	t.Helper()
	decide := Decide(proctest.Topology, timeout)
	var s *State
	var out []schemas.OrderTimedOut
	for i, ev := range events {
		next, emits, err := decide(s, ev, streams.Message{Key: "o-1", Timestamp: at[i]})
		if err != nil {
			t.Fatal(err)
		}
		if next != nil {
			s = next
		}
		for _, e := range emits {
			out = append(out, e.Event.(schemas.OrderTimedOut))
		}
	}
	return s, out
}

func TestAnOrderNotTerminalByItsDeadlineTimesOutOnce(t *testing.T) {
	placed := proctest.Order("o-1", "c-1", "A", 1)
	deadline := proctest.At.Add(timeout)
	later := deadline.Add(time.Second)
	s, out := run(t, []schemas.Event{placed, fired("o-1", deadline), fired("o-1", deadline)},
		[]time.Time{proctest.At, later, later.Add(time.Second)})
	if len(out) != 1 {
		t.Fatalf("%d OrderTimedOut, want exactly 1 for two firings of one deadline", len(out))
	}
	if got := out[0]; got.OrderID != "o-1" || !got.Deadline.Equal(deadline) || !got.PlacedAt.Equal(proctest.At) {
		t.Errorf("OrderTimedOut %+v", got)
	}
	if !s.TimedOut || !s.Done {
		t.Errorf("state %+v", s)
	}
	if _, pending := s.Pending(); pending {
		t.Error("a timed-out order still has a pending deadline")
	}
}

func TestATerminalOrderOrAStaleFiringNeverTimesOut(t *testing.T) {
	placed := proctest.Order("o-1", "c-1", "A", 1)
	deadline := proctest.At.Add(timeout)
	after := deadline.Add(time.Minute)
	cases := map[string]struct {
		events []schemas.Event
		at     []time.Time
	}{
		"shipped first": {[]schemas.Event{placed, schemas.ShipmentCreated{Meta: proctest.Meta("ShipmentCreated", "o-1"), OrderID: "o-1"}, fired("o-1", deadline)},
			[]time.Time{proctest.At, proctest.At, after}},
		"declined": {[]schemas.Event{placed, schemas.PaymentDeclined{Meta: proctest.Meta("PaymentDeclined", "o-1"), OrderID: "o-1"}, fired("o-1", deadline)},
			[]time.Time{proctest.At, proctest.At, after}},
		"out of stock before it was placed": {[]schemas.Event{schemas.StockRejected{Meta: proctest.Meta("StockRejected", "o-1"), OrderID: "o-1"}, placed, fired("o-1", deadline)},
			[]time.Time{proctest.At, proctest.At, after}},
		"a deadline no longer in effect": {[]schemas.Event{placed, fired("o-1", deadline.Add(-time.Minute))},
			[]time.Time{proctest.At, after}},
		"a firing before its deadline": {[]schemas.Event{placed, fired("o-1", deadline)},
			[]time.Time{proctest.At, deadline.Add(-time.Second)}},
		"a firing for an order never placed": {[]schemas.Event{fired("o-1", deadline)}, []time.Time{after}},
	}
	for name, c := range cases {
		if _, out := run(t, c.events, c.at); len(out) != 0 {
			t.Errorf("%s: %d OrderTimedOut", name, len(out))
		}
	}
}

func TestReplayOfTheFiringSendsTheSameOrderTimedOutAgain(t *testing.T) {
	decide := Decide(proctest.Topology, timeout)
	placed := proctest.Order("o-1", "c-1", "A", 1)
	deadline := proctest.At.Add(timeout)
	s, _, _ := decide(nil, placed, streams.Message{Key: "o-1", Timestamp: proctest.At})
	f := fired("o-1", deadline)
	s2, first, _ := decide(s, f, streams.Message{Key: "o-1", Timestamp: deadline})
	next, again, _ := decide(s2, f, streams.Message{Key: "o-1", Timestamp: deadline, Replay: true})
	if next != nil || len(first) != 1 || len(again) != 1 {
		t.Fatalf("first %d, replay %d emits (state changed on replay: %v)", len(first), len(again), next != nil)
	}
	if a, b := first[0].Event.Metadata().EventID, again[0].Event.Metadata().EventID; a != b {
		t.Errorf("replayed OrderTimedOut has another event id (%s, %s): consumers could not deduplicate", a, b)
	}
}

// Through goka's tester: a TimerFired on the firings topic makes the processor emit OrderTimedOut
// on the deadline events topic, and its table value shows nothing pending any more.
func TestGroupEmitsOrderTimedOutOnItsTopic(t *testing.T) {
	t.Setenv("ORDERFLOW_ORDER_DEADLINE", "1ms")
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Contracts: proctest.Topology.Contracts()}))
	out := h.Track(proctest.Topology.DeadlineEvents())
	placed := proctest.Order("o-1", "c-1", "A", 1)
	placed.PlacedAt = time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	h.Feed(proctest.Topology.OrderEvents(), "o-1", placed)
	value := h.TT.TableValue(proctest.Topology.Table("deadlines"), "o-1")
	if value == nil {
		t.Fatal("no table value")
	}
	deadline, pending := value.(streams.Envelope[State]).State.Pending()
	if !pending || !deadline.Equal(placed.PlacedAt.Add(time.Millisecond)) {
		t.Fatalf("pending %v deadline %v", pending, deadline)
	}
	h.Feed(proctest.Topology.TimerFirings(), "o-1", fired("o-1", deadline))
	got := out.All()
	if len(got) != 1 || got[0].Key != "o-1" {
		t.Fatalf("emitted %v", proctest.Types(got))
	}
	if _, ok := got[0].Event.(schemas.OrderTimedOut); !ok {
		t.Fatalf("emitted a %T", got[0].Event)
	}
	value = h.TT.TableValue(proctest.Topology.Table("deadlines"), "o-1")
	if _, pending := value.(streams.Envelope[State]).State.Pending(); pending {
		t.Error("the timed-out order still has a pending deadline")
	}
}
