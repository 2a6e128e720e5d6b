package shipping

import (
	"testing"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

func TestShipsOnceWhenPaidAndReservedInEitherOrder(t *testing.T) {
	paid := schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", "o-1"), OrderID: "o-1"}
	reserved := schemas.StockReserved{Meta: proctest.Meta("StockReserved", "o-1"), OrderID: "o-1"}
	declined := schemas.PaymentDeclined{Meta: proctest.Meta("PaymentDeclined", "o-1"), OrderID: "o-1"}
	rejected := schemas.StockRejected{Meta: proctest.Meta("StockRejected", "o-1"), OrderID: "o-1"}
	timeout := timedOut("o-1")
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
		{"timed out before payment and stock", []schemas.Event{timeout, paid, reserved}, 0},
		{"timed out in between", []schemas.Event{reserved, timeout, paid}, 0},
		{"timed out twice", []schemas.Event{timeout, timeout, timedOut("o-1"), paid, reserved}, 0},
		{"timed out after the shipment: nothing undone", []schemas.Event{paid, reserved, timeout, timeout}, 1},
	}
	var ids []string
	for _, c := range cases {
		decide := Decide(proctest.Topology)
		var s *State
		n := 0
		for _, ev := range c.events {
			next, emits, err := decide(s, ev, streams.Message{Key: "o-1", Timestamp: proctest.At})
			if err != nil {
				t.Fatal(err)
			}
			if next != nil {
				s = next
			}
			for _, e := range emits {
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
