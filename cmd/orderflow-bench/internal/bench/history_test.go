package bench

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orderstatus"
	"github.com/orderflow/orderflow/schemas"
)

// The synthetic history is what the processors would have written: folded through the
// order-status logic, every order ends with the status HistoryOf claims, and the mix matches
// loadgen's (70% shipped).
func TestHistoryFoldsToItsClaimedStatus(t *testing.T) {
	topo := topology.Default()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	counts := map[schemas.Status]int{}
	seenIDs := map[string]bool{}
	for i := 0; i < 200; i++ {
		events, topics, final := HistoryOf(topo, i, at)
		if len(events) != len(topics) || len(events) < 2 {
			t.Fatalf("order %d: %d events on %d topics", i, len(events), len(topics))
		}
		s := schemas.OrderStatus{OrderID: OrderID(i)}
		for _, ev := range events {
			if seenIDs[ev.Metadata().EventID] {
				t.Fatalf("event id %s used twice", ev.Metadata().EventID)
			}
			seenIDs[ev.Metadata().EventID] = true
			if *ev.Metadata().OrderID != OrderID(i) {
				t.Fatalf("order %d: event keyed %s", i, *ev.Metadata().OrderID)
			}
			if _, err := orderstatus.Apply(&s, ev); err != nil {
				t.Fatalf("order %d: %v", i, err)
			}
		}
		if s.Status != final {
			t.Fatalf("order %d folds to %s, HistoryOf says %s", i, s.Status, final)
		}
		counts[final]++
	}
	if counts[schemas.StatusShipped] != 140 || counts[schemas.StatusCancelled] != 60 {
		t.Fatalf("mix %v, want 140 shipped and 60 cancelled of 200", counts)
	}
	if OrderID(7) != OrderID(7) || OrderID(7) == OrderID(8) {
		t.Fatal("order ids must be stable and distinct")
	}
}
