package reservations

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

// releaseReason is the reason of the StockReleased among emits ("" when there is none).
func releaseReason(emits []streams.Emit) string {
	for _, e := range emits {
		if r, ok := e.Event.(schemas.StockReleased); ok {
			return r.Reason
		}
	}
	return ""
}

// runEmits feeds evs to the decision in order and returns the final state and every emit.
func runEmits(t *testing.T, evs ...schemas.Event) (*State, []streams.Emit) {
	t.Helper()
	decide := Decide(proctest.Topology)
	var s *State
	var all []streams.Emit
	for _, ev := range evs {
		next, emits, err := decide(s, ev, msg)
		if err != nil {
			t.Fatalf("%s: %v", ev.Metadata().EventType, err)
		}
		if next != nil {
			s = next
		}
		all = append(all, emits...)
	}
	return s, all
}

// A timeout releases the order's holds as a declined payment does: at once when reserved, on the
// last reply when pending, never asked for when it comes first; the first cancellation names the
// release's reason, and a second one, or the timeout delivered again, releases nothing more.
func TestTimeoutReleasesTheReservation(t *testing.T) {
	order := proctest.Order("o-1", "c-1", "A", 2, "B", 1, "A", 1) // A twice: 3 units in all
	timeout := proctest.TimedOut("o-1")
	declined := schemas.PaymentDeclined{Meta: proctest.Meta("PaymentDeclined", "o-1"), OrderID: "o-1"}
	shipped := schemas.ShipmentCreated{Meta: proctest.Meta("ShipmentCreated", "o-1"), OrderID: "o-1"}
	cases := []struct {
		name   string
		events []schemas.Event
		phase  string
		emits  string
		reason schemas.CancelReason // of the StockReleased; "" when none
	}{
		{"timed out after reservation", []schemas.Event{order, reply("A", true), reply("B", true), timeout}, Released,
			"[HOLD A×3 HOLD B×1 StockReserved RELEASE A×3 RELEASE B×1 StockReleased]", schemas.CancelTimeout},
		{"timed out while pending", []schemas.Event{order, reply("A", true), timeout, reply("B", true)}, Released,
			"[HOLD A×3 HOLD B×1 RELEASE A×3 RELEASE B×1 StockReleased]", schemas.CancelTimeout},
		{"timed out while pending, one short", []schemas.Event{order, timeout, reply("A", true), reply("B", false)}, Rejected,
			"[HOLD A×3 HOLD B×1 RELEASE A×3 StockRejected]", ""},
		{"timed out before the order", []schemas.Event{timeout, order}, Skipped, "[]", ""},
		{"timed out twice and declined: released once", []schemas.Event{order, reply("A", true), reply("B", true), timeout, timeout, proctest.TimedOut("o-1"), declined},
			Released, "[HOLD A×3 HOLD B×1 StockReserved RELEASE A×3 RELEASE B×1 StockReleased]", schemas.CancelTimeout},
		{"declined, then timed out: released once for the decline", []schemas.Event{order, reply("A", true), reply("B", true), declined, timeout},
			Released, "[HOLD A×3 HOLD B×1 StockReserved RELEASE A×3 RELEASE B×1 StockReleased]", schemas.CancelPaymentDeclined},
		{"shipped, then timed out: the stock has left", []schemas.Event{order, reply("A", true), reply("B", true), shipped, timeout}, Committed,
			"[HOLD A×3 HOLD B×1 StockReserved COMMIT A×3 COMMIT B×1]", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, emits := runEmits(t, c.events...)
			if s.Phase != c.phase || describe(emits) != c.emits || releaseReason(emits) != string(c.reason) {
				t.Errorf("phase %s emits %s reason %q\nwant  %s emits %s reason %q", s.Phase, describe(emits), releaseReason(emits), c.phase, c.emits, c.reason)
			}
		})
	}
}

// After a timeout, late events hold nothing: a late OrderPlaced asks for no hold, and a hold
// granted for the order anyway (a stale HOLD) is released, exactly that one.
func TestLateEventsAfterATimeoutHoldNothing(t *testing.T) {
	decide := Decide(proctest.Topology)
	s, emits := runEmits(t, proctest.TimedOut("o-1"), proctest.Order("o-1", "c-1", "A", 1))
	if s.Phase != Skipped || len(emits) != 0 {
		t.Fatalf("timed out, then placed: phase %s, emits %s", s.Phase, describe(emits))
	}
	granted := reply("A", true)
	granted.Quantity, granted.HoldSeq = 1, 7
	next, emits, err := decide(s, granted, msg)
	if err != nil || next != nil || describe(emits) != "[RELEASE A×1]" || emits[0].Event.(schemas.SkuCommand).HoldSeq != 7 {
		t.Errorf("late grant: state %+v emits %s err %v; want a RELEASE of hold 7", next, describe(emits), err)
	}
}

// An input replayed after a crash sends again the release the timeout caused, with the same ids
// and reason, whichever input of the order it is.
func TestReplayResendsTheTimeoutRelease(t *testing.T) {
	decide := Decide(proctest.Topology)
	timeout := proctest.TimedOut("o-1")
	declined := schemas.PaymentDeclined{Meta: proctest.Meta("PaymentDeclined", "o-1"), OrderID: "o-1"}
	s, _ := runEmits(t, proctest.Order("o-1", "c-1", "A", 1, "B", 1), reply("A", true), reply("B", true))
	s, first, _ := decide(s, timeout, msg)
	s, _, _ = decide(s, declined, msg)
	replay := msg
	replay.Replay = true
	for _, ev := range []schemas.Event{timeout, declined} {
		next, again, err := decide(s, ev, replay)
		if err != nil || next != nil || describe(again) != describe(first) || releaseReason(again) != string(schemas.CancelTimeout) {
			t.Fatalf("replayed %s: state %+v emits %s; want no change and %s", ev.Metadata().EventType, next, describe(again), describe(first))
		}
		for i := range first {
			if first[i].Event.Metadata().EventID != again[i].Event.Metadata().EventID {
				t.Errorf("replayed %s, emit %d: id %s then %s", ev.Metadata().EventType, i, first[i].Event.Metadata().EventID, again[i].Event.Metadata().EventID)
			}
		}
	}
}

// previousRelease is a reservations table value as the release before OrderTimedOut wrote it:
// the envelope's format byte and offsets (none), then Phase, Quantities, Replies,
// PaymentDeclined, Shipped.
func previousRelease(phase string, qty map[string]int32, granted map[string]int64, declined bool) []byte {
	w := &streams.Writer{}
	w.Uvarint(0)
	w.String(phase)
	w.Int32Map(qty)
	w.Uvarint(uint64(len(granted)))
	for _, sku := range sortedKeys(granted) {
		w.String(sku)
		w.Bool(true)
		w.Varint(0)
		w.Varint(granted[sku])
	}
	w.Bool(declined)
	w.Bool(false)
	return append([]byte{1}, w.Bytes()...)
}

// Values written before CancelReason existed decode with it empty and mean what they meant: a
// declined payment releases for PAYMENT_DECLINED, and a timeout after it changes nothing. A value
// without CancelReason is still written in the previous layout, and one with it round-trips.
func TestStateWrittenByThePreviousReleaseStillDecodes(t *testing.T) {
	codec := streams.StateCodec[State, *State]{}
	old := previousRelease(Pending, map[string]int32{"A": 1, "B": 2}, map[string]int64{"A": 5}, true)
	v, err := codec.Decode(old)
	if err != nil {
		t.Fatal(err)
	}
	s := v.(streams.Envelope[State]).State
	want := State{Phase: Pending, Quantities: map[string]int32{"A": 1, "B": 2}, Replies: map[string]Reply{"A": {Granted: true, HoldSeq: 5}}, PaymentDeclined: true}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("decoded %+v, want %+v", s, want)
	}
	decide := Decide(proctest.Topology)
	if next, emits, _ := decide(&s, proctest.TimedOut("o-1"), msg); next != nil || len(emits) != 0 {
		t.Errorf("timeout of an order declined before: state %+v, emits %s; want nothing", next, describe(emits))
	}
	last := reply("B", true)
	last.HoldSeq = 6
	if _, emits, _ := decide(&s, last, msg); describe(emits) != "[RELEASE A×1 RELEASE B×2 StockReleased]" || releaseReason(emits) != string(schemas.CancelPaymentDeclined) {
		t.Errorf("last reply of an order declined before: emits %s reason %q; want both released for PAYMENT_DECLINED", describe(emits), releaseReason(emits))
	}

	if again, _ := codec.Encode(v); string(again) != string(old) {
		t.Errorf("a value without CancelReason is written as %x, want the previous layout %x", again, old)
	}
	in := streams.Envelope[State]{State: State{Phase: Released, Quantities: map[string]int32{"A": 1}, Replies: map[string]Reply{"A": {Granted: true, HoldSeq: 3}},
		CancelReason: schemas.CancelTimeout}, Offsets: map[string]int64{string(proctest.Topology.DeadlineEvents()): 2}}
	data, err := codec.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := codec.Decode(data); err != nil || !reflect.DeepEqual(out, in) {
		t.Errorf("round trip of %+v: %+v, %v", in, out, err)
	}
}

// Through goka's tester: OrderTimedOut on the deadline events topic passes the eventType
// pre-filter and releases the reservation; the same timeout delivered again releases nothing.
func TestTimeoutThroughTheWiring(t *testing.T) {
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Poison: streams.LogPoison("reservations"),
		Contracts: proctest.Topology.Contracts()}))
	cmds := h.Track(proctest.Topology.SkuCommands())
	events := h.Track(proctest.Topology.InventoryEvents())
	timeout := proctest.TimedOut("o-1")
	h.Feed(proctest.Topology.OrderEvents(), "o-1", proctest.Order("o-1", "c-1", "A", 1))
	h.Feed(proctest.Topology.SkuReplies(), "o-1", reply("A", true))
	h.Feed(proctest.Topology.DeadlineEvents(), "o-1", timeout)
	h.Feed(proctest.Topology.DeadlineEvents(), "o-1", timeout)
	if got := describe(eventsOf(cmds.All())); got != "[HOLD A×1 RELEASE A×1]" {
		t.Errorf("commands %s", got)
	}
	got := events.All()
	if fmt.Sprint(proctest.Types(got)) != "[StockReserved StockReleased]" || got[1].Event.(schemas.StockReleased).Reason != string(schemas.CancelTimeout) {
		t.Errorf("inventory events %v", got)
	}
	if st := h.TT.TableValue(proctest.Topology.Table("reservations"), "o-1").(streams.Envelope[State]).State; st.Phase != Released || st.CancelReason != schemas.CancelTimeout {
		t.Errorf("table value %+v", st)
	}
}
