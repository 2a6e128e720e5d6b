package reservations

import (
	"fmt"
	"testing"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

var msg = streams.Message{Timestamp: proctest.At}

func describe(emits []streams.Emit) string {
	var out []string
	for _, e := range emits {
		switch ev := e.Event.(type) {
		case schemas.SkuCommand:
			out = append(out, fmt.Sprintf("%s %s×%d", ev.Op, ev.SKU, ev.Quantity))
		default:
			out = append(out, ev.Metadata().EventType)
		}
	}
	return fmt.Sprint(out)
}

func reply(sku string, granted bool) schemas.SkuReply {
	return schemas.SkuReply{Meta: proctest.Meta("SkuReply", "o-1"), OrderID: "o-1", SKU: sku, Op: schemas.SkuOpHold, Granted: granted}
}

func run(t *testing.T, evs ...schemas.Event) (*State, string) {
	t.Helper()
	s, all := runEmits(t, evs...)
	return s, describe(all)
}

func TestReservationSaga(t *testing.T) {
	order := proctest.Order("o-1", "c-1", "A", 2, "B", 1, "A", 1) // A twice: 3 units in all
	declined := schemas.PaymentDeclined{Meta: proctest.Meta("PaymentDeclined", "o-1"), OrderID: "o-1"}
	shipped := schemas.ShipmentCreated{Meta: proctest.Meta("ShipmentCreated", "o-1"), OrderID: "o-1"}
	cases := []struct {
		name   string
		events []schemas.Event
		phase  string
		emits  string
	}{
		{"all granted", []schemas.Event{order, reply("A", true), reply("B", true)}, Reserved,
			"[HOLD A×3 HOLD B×1 StockReserved]"},
		{"one short: undo the other hold", []schemas.Event{order, reply("B", false), reply("A", true)}, Rejected,
			"[HOLD A×3 HOLD B×1 RELEASE A×3 StockRejected]"},
		{"declined while pending", []schemas.Event{order, declined, reply("A", true), reply("B", true)}, Released,
			"[HOLD A×3 HOLD B×1 RELEASE A×3 RELEASE B×1 StockReleased]"},
		{"declined after reservation", []schemas.Event{order, reply("A", true), reply("B", true), declined}, Released,
			"[HOLD A×3 HOLD B×1 StockReserved RELEASE A×3 RELEASE B×1 StockReleased]"},
		{"declined before the order", []schemas.Event{declined, order}, Skipped, "[]"},
		{"shipped: commit", []schemas.Event{order, reply("A", true), reply("B", true), shipped}, Committed,
			"[HOLD A×3 HOLD B×1 StockReserved COMMIT A×3 COMMIT B×1]"},
		{"shipment seen before the last reply: commit once reserved", []schemas.Event{order, reply("A", true), shipped, reply("B", true)}, Committed,
			"[HOLD A×3 HOLD B×1 StockReserved COMMIT A×3 COMMIT B×1]"},
		{"duplicates change nothing", []schemas.Event{order, order, reply("A", true), reply("A", true), reply("B", true)}, Reserved,
			"[HOLD A×3 HOLD B×1 StockReserved]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, emits := run(t, c.events...)
			if s.Phase != c.phase || emits != c.emits {
				t.Errorf("phase %s emits %s\nwant  %s emits %s", s.Phase, emits, c.phase, c.emits)
			}
		})
	}
}

func TestShortLinesNameTheShortSKU(t *testing.T) {
	decide := Decide(proctest.Topology)
	s, _, _ := decide(nil, proctest.Order("o-1", "c-1", "A", 5), msg)
	r := reply("A", false)
	r.Available = 2
	_, emits, _ := decide(s, r, msg)
	rej := emits[len(emits)-1].Event.(schemas.StockRejected)
	if len(rej.ShortLines) != 1 || rej.ShortLines[0] != (schemas.ShortLine{SKU: "A", Requested: 5, Available: 2}) {
		t.Errorf("short lines %+v", rej.ShortLines)
	}
}

func TestShipmentOfRejectedOrderIsRejected(t *testing.T) {
	decide := Decide(proctest.Topology)
	s, _, _ := decide(nil, proctest.Order("o-1", "c-1", "A", 1), msg)
	s, _, _ = decide(s, reply("A", false), msg)
	_, _, err := decide(s, schemas.ShipmentCreated{Meta: proctest.Meta("ShipmentCreated", "o-1"), OrderID: "o-1"}, msg)
	if err == nil {
		t.Fatal("want a rejection")
	}
}

// A HOLD granted again after the order's reservation was closed (a stale copy sent after a crash)
// comes back with a hold number the order did not record: reservations releases exactly that
// hold, whatever the phase, and a copy of a recorded reply changes nothing.
func TestStaleGrantIsReleased(t *testing.T) {
	decide := Decide(proctest.Topology)
	granted := func(seq int64) schemas.SkuReply {
		r := reply("A", true)
		r.Quantity, r.HoldSeq = 1, seq
		return r
	}
	s, _, _ := decide(nil, proctest.Order("o-1", "c-1", "A", 1), msg)
	s, _, _ = decide(s, granted(5), msg)
	s, _, _ = decide(s, schemas.ShipmentCreated{Meta: proctest.Meta("ShipmentCreated", "o-1"), OrderID: "o-1"}, msg)
	if next, emits, _ := decide(s, granted(5), msg); next != nil || len(emits) != 0 {
		t.Errorf("copy of the recorded reply: state %+v emits %s", next, describe(emits))
	}
	next, emits, err := decide(s, granted(90), msg)
	if err != nil || next != nil || describe(emits) != "[RELEASE A×1]" || emits[0].Event.(schemas.SkuCommand).HoldSeq != 90 {
		t.Fatalf("stale grant: state %+v emits %s err %v; want a RELEASE of hold 90", next, describe(emits), err)
	}
	if s.Phase != Committed {
		t.Errorf("phase %s", s.Phase)
	}
}

// An input replayed after a crash changes nothing and re-sends the outcome its order's phase
// implies, with the event ids of the first time.
func TestReplayResendsTheOutcomeWithTheSameIDs(t *testing.T) {
	decide := Decide(proctest.Topology)
	order := proctest.Order("o-1", "c-1", "A", 1, "B", 1)
	s, _, _ := decide(nil, order, msg)
	s, _, _ = decide(s, reply("A", true), msg)
	last := reply("B", false)
	s, first, _ := decide(s, last, msg)
	replay := msg
	replay.Replay = true
	next, again, err := decide(s, last, replay)
	if err != nil || next != nil || describe(again) != describe(first) {
		t.Fatalf("replay: state %+v emits %s; want no change and %s", next, describe(again), describe(first))
	}
	for i := range first {
		if first[i].Event.Metadata().EventID != again[i].Event.Metadata().EventID {
			t.Errorf("emit %d: id %s then %s", i, first[i].Event.Metadata().EventID, again[i].Event.Metadata().EventID)
		}
	}
	// an earlier input of the same order replays the same outcome
	if _, fromOrder, _ := decide(s, order, replay); describe(fromOrder) != describe(first) {
		t.Errorf("replayed OrderPlaced sent %s, want %s", describe(fromOrder), describe(first))
	}
}
