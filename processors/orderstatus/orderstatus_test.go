package orderstatus

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

func at(sec int) schemas.Metadata {
	m := proctest.Meta("", "o-1")
	m.OccurredAt = proctest.At.Add(time.Duration(sec) * time.Second)
	return m
}

func permutations(evs []schemas.Event) [][]schemas.Event {
	if len(evs) <= 1 {
		return [][]schemas.Event{evs}
	}
	var out [][]schemas.Event
	for i := range evs {
		rest := append(append([]schemas.Event{}, evs[:i]...), evs[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]schemas.Event{evs[i]}, p...))
		}
	}
	return out
}

func fold(t *testing.T, evs []schemas.Event) schemas.OrderStatus {
	t.Helper()
	decide := Decide(proctest.Topology)
	var s *schemas.OrderStatus
	for _, ev := range evs {
		next, _, err := decide(s, ev, streams.Message{Key: "o-1", Timestamp: proctest.At})
		if err != nil {
			t.Fatal(err)
		}
		if next != nil {
			s = next
		}
	}
	return *s
}

// The final record depends only on the set of events, never on their arrival order.
func TestEveryArrivalOrderGivesTheSameRecord(t *testing.T) {
	order := proctest.Order("o-1", "c-1", "SKU-1", 1)
	order.PlacedAt = at(0).OccurredAt
	order.Meta = at(0)
	flows := map[string]struct {
		events []schemas.Event
		status schemas.Status
		reason schemas.CancelReason
	}{
		"shipped": {[]schemas.Event{order,
			schemas.PaymentAuthorized{Meta: at(2), OrderID: "o-1"},
			schemas.StockReserved{Meta: at(1), OrderID: "o-1"},
			schemas.ShipmentCreated{Meta: at(3), OrderID: "o-1"}}, schemas.StatusShipped, ""},
		"payment declined after reservation": {[]schemas.Event{order,
			schemas.StockReserved{Meta: at(1), OrderID: "o-1"},
			schemas.PaymentDeclined{Meta: at(2), OrderID: "o-1"},
			schemas.StockReleased{Meta: at(3), OrderID: "o-1"}}, schemas.StatusCancelled, schemas.CancelPaymentDeclined},
		"out of stock after authorization": {[]schemas.Event{order,
			schemas.PaymentAuthorized{Meta: at(1), OrderID: "o-1"},
			schemas.StockRejected{Meta: at(2), OrderID: "o-1"},
			schemas.PaymentRefunded{Meta: at(3), OrderID: "o-1"}}, schemas.StatusCancelled, schemas.CancelOutOfStock},
		"declined and out of stock": {[]schemas.Event{order,
			schemas.StockRejected{Meta: at(1), OrderID: "o-1"},
			schemas.PaymentDeclined{Meta: at(2), OrderID: "o-1"}}, schemas.StatusCancelled, schemas.CancelPaymentDeclined},
		"timed out after authorization and reservation": {[]schemas.Event{order,
			schemas.PaymentAuthorized{Meta: at(1), OrderID: "o-1"},
			schemas.StockReserved{Meta: at(2), OrderID: "o-1"},
			timedOut(900),
			schemas.PaymentRefunded{Meta: at(901), OrderID: "o-1"},
			schemas.StockReleased{Meta: at(902), OrderID: "o-1"}}, schemas.StatusCancelled, schemas.CancelTimeout},
		"timed out and declined": {[]schemas.Event{order,
			timedOut(900),
			schemas.PaymentDeclined{Meta: at(2), OrderID: "o-1"}}, schemas.StatusCancelled, schemas.CancelPaymentDeclined},
		"timed out and out of stock": {[]schemas.Event{order,
			timedOut(900),
			schemas.StockRejected{Meta: at(901), OrderID: "o-1"}}, schemas.StatusCancelled, schemas.CancelOutOfStock},
		"timed out twice": {[]schemas.Event{order,
			timedOut(960),
			timedOut(900)}, schemas.StatusCancelled, schemas.CancelTimeout},
		"shipped and timed out (a timeout racing the shipment)": {[]schemas.Event{order,
			schemas.PaymentAuthorized{Meta: at(1), OrderID: "o-1"},
			schemas.StockReserved{Meta: at(2), OrderID: "o-1"},
			schemas.ShipmentCreated{Meta: at(3), OrderID: "o-1"},
			timedOut(900)}, schemas.StatusCancelled, schemas.CancelTimeout},
		"authorized and reserved": {[]schemas.Event{order,
			schemas.StockReserved{Meta: at(2), OrderID: "o-1"},
			schemas.PaymentAuthorized{Meta: at(1), OrderID: "o-1"}}, schemas.StatusInventoryReserved, ""},
	}
	for name, f := range flows {
		t.Run(name, func(t *testing.T) {
			var first schemas.OrderStatus
			for i, p := range permutations(f.events) {
				got := fold(t, p)
				if i == 0 {
					first = got
					if got.Status != f.status || (f.reason != "" && (got.Reason == nil || *got.Reason != f.reason)) {
						t.Fatalf("status %s reason %v, want %s %s", got.Status, got.Reason, f.status, f.reason)
					}
					if got.Version != int64(len(f.events)) {
						t.Errorf("version %d, want %d", got.Version, len(f.events))
					}
					continue
				}
				// the emitted changes depend on the arrival order; what the table serves does not
				if !reflect.DeepEqual(Served(got), Served(first)) {
					t.Fatalf("arrival order %d gives\n%+v\nfirst gave\n%+v", i, got, first)
				}
			}
		})
	}
}

func TestHistoryShowsBothStepsInEventTimeOrder(t *testing.T) {
	order := proctest.Order("o-1", "c-1", "SKU-1", 1)
	order.PlacedAt, order.Meta = at(0).OccurredAt, at(0)
	got := fold(t, []schemas.Event{schemas.PaymentAuthorized{Meta: at(2), OrderID: "o-1"}, order,
		schemas.StockReserved{Meta: at(1), OrderID: "o-1"}})
	var steps []string
	for _, h := range got.History {
		steps = append(steps, string(h.Status))
	}
	if fmt.Sprint(steps) != "[PLACED INVENTORY_RESERVED PAYMENT_AUTHORIZED]" || got.Status != schemas.StatusPaymentAuthorized {
		t.Errorf("history %v status %s", steps, got.Status)
	}
}

// A cause delivered again (a crash may have lost its change) changes nothing and emits its
// change again, identical, so consumers deduplicating by event id see it once.
func TestDuplicateEventChangesNothingAndEmitsItsChangeAgain(t *testing.T) {
	decide := Decide(proctest.Topology)
	order := proctest.Order("o-1", "c-1", "SKU-1", 1)
	msg := streams.Message{Key: "o-1", Timestamp: proctest.At}
	s, first, _ := decide(nil, order, msg)
	if len(first) != 1 || s.Status != schemas.StatusPlaced {
		t.Fatalf("first OrderPlaced: %v %v", s.Status, first)
	}
	authorized := schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", "o-1"), OrderID: "o-1"}
	s, _, _ = decide(s, authorized, streams.Message{Key: "o-1", Timestamp: proctest.At.Add(time.Second)})
	again, emits, err := decide(s, order, msg)
	if again != nil || err != nil || !reflect.DeepEqual(emits, first) {
		t.Errorf("duplicate: state %v err %v emits %+v, want the first emits %+v", again, err, emits, first)
	}
	// an event that changed no status emits nothing when delivered again
	refunded := schemas.PaymentRefunded{Meta: proctest.Meta("PaymentRefunded", "o-1"), OrderID: "o-1"}
	s, _, _ = decide(s, refunded, msg)
	if again, emits, _ := decide(s, refunded, msg); again != nil || emits != nil {
		t.Errorf("duplicate refund: %v %v", again, emits)
	}
}

// Wiring through goka's tester with the Avro table codec.
func TestProcessorWiring(t *testing.T) {
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Poison: streams.LogPoison("order-status")}))
	out := h.Track(proctest.Topology.StatusChanges())
	h.Feed(proctest.Topology.OrderEvents(), "o-1", proctest.Order("o-1", "c-1", "SKU-1", 1))
	h.Feed(proctest.Topology.PaymentEvents(), "o-1", schemas.PaymentDeclined{Meta: proctest.Meta("PaymentDeclined", "o-1"), OrderID: "o-1", Reason: schemas.DeclineCustomerDenied})
	got := out.All()
	if len(got) != 2 || got[1].Event.(schemas.OrderStatusChanged).ToStatus != schemas.StatusCancelled {
		t.Fatalf("changes: %v", proctest.Types(got))
	}
	st := h.TT.TableValue(proctest.Topology.Table("order-status"), "o-1").(schemas.OrderStatus)
	if st.Status != schemas.StatusCancelled || *st.Reason != schemas.CancelPaymentDeclined || st.CustomerID != "c-1" {
		t.Errorf("table: %+v", st)
	}
}

// The fold of one shipped order's four events, as a rebuild runs it per input.
func BenchmarkDecideShippedOrder(b *testing.B) {
	order := proctest.Order("o-1", "c-1", "SKU-1", 1)
	order.PlacedAt, order.Meta = at(0).OccurredAt, at(0)
	events := []schemas.Event{order,
		schemas.PaymentAuthorized{Meta: at(1), OrderID: "o-1", AmountMinor: order.TotalMinor, Currency: order.Currency},
		schemas.StockReserved{Meta: at(2), OrderID: "o-1", Lines: []schemas.StockLine{{SKU: "SKU-1", Quantity: 1}}},
		schemas.ShipmentCreated{Meta: at(3), OrderID: "o-1", ShipmentID: "s-1", CreatedAt: at(3).OccurredAt}}
	decide := Decide(proctest.Topology)
	for b.Loop() {
		var s *schemas.OrderStatus
		for _, ev := range events {
			next, _, err := decide(s, ev, streams.Message{Key: "o-1", Timestamp: proctest.At})
			if err != nil {
				b.Fatal(err)
			}
			if next != nil {
				s = next
			}
		}
		if s.Status != schemas.StatusShipped {
			b.Fatalf("status %s", s.Status)
		}
	}
}
