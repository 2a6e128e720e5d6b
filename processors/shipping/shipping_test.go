package shipping

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

func TestShipsOnceWhenPaidAndReservedInEitherOrder(t *testing.T) {
	paid := schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", "o-1"), OrderID: "o-1"}
	reserved := schemas.StockReserved{Meta: proctest.Meta("StockReserved", "o-1"), OrderID: "o-1"}
	declined := schemas.PaymentDeclined{Meta: proctest.Meta("PaymentDeclined", "o-1"), OrderID: "o-1"}
	rejected := schemas.StockRejected{Meta: proctest.Meta("StockRejected", "o-1"), OrderID: "o-1"}
	placed := proctest.Order("o-1", "c-1", "A", 1)
	timeout := schemas.TimerFired{Meta: proctest.Meta("TimerFired", "o-1"), Key: "o-1", Deadline: proctest.At.Add(time.Hour)}
	cases := []struct {
		name      string
		events    []schemas.Event
		shipments int
	}{
		{"paid then reserved", []schemas.Event{paid, reserved}, 1},
		{"reserved then paid", []schemas.Event{reserved, paid}, 1},
		{"duplicates", []schemas.Event{paid, reserved, reserved, paid}, 1},
		{"declined", []schemas.Event{reserved, declined}, 0},
		{"rejected", []schemas.Event{paid, rejected}, 0},
		{"placed, then paid and reserved before the deadline", []schemas.Event{placed, paid, reserved, timeout}, 1},
		{"timed out before payment and stock", []schemas.Event{placed, timeout, paid, reserved}, 0},
		{"timed out in between", []schemas.Event{placed, reserved, timeout, paid}, 0},
		{"timed out twice", []schemas.Event{placed, timeout, timeout, paid, reserved}, 0},
		{"the deadline after the shipment: nothing undone", []schemas.Event{placed, paid, reserved, timeout, timeout}, 1},
	}
	var ids []string
	for _, c := range cases {
		decide := Decide(proctest.Topology, time.Hour)
		var s *State
		n := 0
		for _, ev := range c.events {
			next, emits, err := decide(s, ev, streams.Message{Key: "o-1", Timestamp: proctest.At.Add(2 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if next != nil {
				s = next
			}
			for _, e := range emits {
				if _, ok := e.Event.(schemas.ShipmentCreated); !ok {
					continue
				}
				n++
				ids = append(ids, e.Event.Metadata().EventID)
				if e.Event.(schemas.ShipmentCreated).ShipmentID != "shp-o-1" {
					t.Errorf("%s: shipment id %s", c.name, e.Event.(schemas.ShipmentCreated).ShipmentID)
				}
			}
		}
		if n != c.shipments {
			t.Errorf("%s: %d shipments, want %d", c.name, n, c.shipments)
		}
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Errorf("shipment event ids differ by arrival order (%s vs %s): consumers could not deduplicate", id, ids[0])
		}
	}
}

// The shipment is dated and caused by the later of the pair by event time, whichever arrived
// last, so a rebuild (inputs merged by time) makes the same table as the live run did.
func TestShipmentIsTheSameWhicheverOfThePairArrivesLast(t *testing.T) {
	paid := schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", "o-1"), OrderID: "o-1"}
	reserved := schemas.StockReserved{Meta: proctest.Meta("StockReserved", "o-1"), OrderID: "o-1"}
	paidAt, reservedAt := proctest.At, proctest.At.Add(3*time.Millisecond)
	final := func(first, second schemas.Event, firstAt, secondAt time.Time) State {
		decide := Decide(proctest.Topology, time.Hour)
		s, _, _ := decide(nil, first, streams.Message{Key: "o-1", Timestamp: firstAt})
		s, emits, _ := decide(s, second, streams.Message{Key: "o-1", Timestamp: secondAt})
		if len(emits) != 1 {
			t.Fatalf("%d emits on completing the pair", len(emits))
		}
		return *s
	}
	inOrder := final(paid, reserved, paidAt, reservedAt)
	reversed := final(reserved, paid, reservedAt, paidAt)
	if inOrder != reversed {
		t.Fatalf("arrival order changed the state:\n in order %+v\n reversed %+v", inOrder, reversed)
	}
	if !inOrder.CreatedAt.Equal(reservedAt) || inOrder.CausedBy != reserved.Meta.EventID {
		t.Errorf("shipment at %v caused by %s, want the later event (the reservation at %v)", inOrder.CreatedAt, inOrder.CausedBy, reservedAt)
	}
}
