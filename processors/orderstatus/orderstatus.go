package orderstatus

import (
	"slices"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// stepRank orders the steps of an order that happened at the same time.
func stepRank(st schemas.Status) int {
	switch st {
	case schemas.StatusPlaced:
		return 1
	case schemas.StatusPaymentAuthorized:
		return 2
	case schemas.StatusInventoryReserved:
		return 3
	case schemas.StatusShipped:
		return 4
	case schemas.StatusCancelled:
		return 5
	}
	return 0
}

// reasonRank orders the reasons of an order cancelled for several: the highest is the order's.
// A decisive refusal names the cancellation better than the deadline that ran out meanwhile (the
// deadline fires when it has not seen the refusal yet), so TIMEOUT ranks lowest:
// PAYMENT_DECLINED > OUT_OF_STOCK > TIMEOUT.
var reasonRank = map[schemas.CancelReason]int{
	schemas.CancelUnknown: 0, schemas.CancelTimeout: 1, schemas.CancelOutOfStock: 2, schemas.CancelPaymentDeclined: 3,
}

func setOnce(p **time.Time, at time.Time) {
	if *p == nil {
		t := at.UTC()
		*p = &t
	}
}

// Apply folds one event into the status of its order; it reports whether the event changed the
// record (false for a redelivered event or one that does not concern the status).
func Apply(s *schemas.OrderStatus, ev schemas.Event) (bool, error) {
	id := ev.Metadata().EventID
	if _, seen := slices.BinarySearch(s.AppliedEventIDs, id); seen {
		return false, nil
	}
	at := ev.Metadata().OccurredAt
	// cancel records a cancellation: the reason of highest rank wins, with its time; between
	// cancellations of one reason, the earliest. Either way the result does not depend on the
	// order they arrive in.
	cancel := func(reason schemas.CancelReason) {
		outranks := s.Reason == nil || reasonRank[reason] > reasonRank[*s.Reason]
		earlier := s.Reason != nil && reason == *s.Reason && s.CancelledAt != nil && at.Before(*s.CancelledAt)
		if outranks || earlier {
			s.Reason = &reason
			t := at.UTC()
			s.CancelledAt = &t
		}
	}
	switch e := ev.(type) {
	case schemas.OrderPlaced:
		if err := e.Validate(); err != nil {
			return false, streams.Rejectf("%v", err)
		}
		s.CustomerID, s.TotalMinor, s.Currency = e.CustomerID, e.TotalMinor, e.Currency
		setOnce(&s.PlacedAt, e.PlacedAt)
	case schemas.PaymentAuthorized:
		setOnce(&s.PaymentAuthorizedAt, at)
	case schemas.PaymentDeclined:
		cancel(schemas.CancelPaymentDeclined)
	case schemas.StockReserved:
		setOnce(&s.InventoryReservedAt, at)
	case schemas.StockRejected:
		cancel(schemas.CancelOutOfStock)
	case schemas.OrderTimedOut:
		cancel(schemas.CancelTimeout)
	case schemas.ShipmentCreated:
		setOnce(&s.ShippedAt, at)
	case schemas.PaymentRefunded, schemas.StockReleased:
		// consequences of a cancellation already counted
	default:
		return false, nil
	}
	// kept sorted, so the record does not depend on arrival order; a new slice, since s may
	// share its backing array with the state it was copied from
	i, _ := slices.BinarySearch(s.AppliedEventIDs, id)
	ids := make([]string, len(s.AppliedEventIDs)+1)
	copy(ids, s.AppliedEventIDs[:i])
	ids[i] = id
	copy(ids[i+1:], s.AppliedEventIDs[i:])
	s.AppliedEventIDs = ids
	s.Version = int64(len(s.AppliedEventIDs))
	derive(s)
	return true, nil
}

// derive recomputes status and history from the step times.
func derive(s *schemas.OrderStatus) {
	var steps [5]schemas.StatusEntry
	n := 0
	add := func(st schemas.Status, at *time.Time) {
		if at == nil {
			return
		}
		e := schemas.StatusEntry{Status: st, At: *at}
		i := n // insertion sort by time, then by step: at most five entries
		for ; i > 0; i-- {
			prev := steps[i-1]
			if prev.At.Before(e.At) || (prev.At.Equal(e.At) && stepRank(prev.Status) <= stepRank(e.Status)) {
				break
			}
			steps[i] = prev
		}
		steps[i] = e
		n++
	}
	add(schemas.StatusPlaced, s.PlacedAt)
	add(schemas.StatusPaymentAuthorized, s.PaymentAuthorizedAt)
	add(schemas.StatusInventoryReserved, s.InventoryReservedAt)
	add(schemas.StatusShipped, s.ShippedAt)
	add(schemas.StatusCancelled, s.CancelledAt)
	h := slices.Clone(steps[:n])
	s.History = h
	switch {
	case s.Reason != nil:
		s.Status = schemas.StatusCancelled
	case s.ShippedAt != nil:
		s.Status = schemas.StatusShipped
	case len(h) > 0:
		s.Status = h[len(h)-1].Status
	default:
		s.Status = schemas.StatusUnknown
	}
}

// Decide is the order-status processor's pure decision function.
//
// Each status change is emitted with an id derived from its cause and recorded in the table
// value (Changes). A cause delivered again (after a crash between the table write and the
// offset commit, the emit may be lost) changes nothing and emits its recorded change again,
// identical: a lost change is sent, a copy is ignored by consumers deduplicating by event id.
func Decide(t topology.Topology) streams.Decider[schemas.OrderStatus] {
	changed := func(orderID string, c schemas.StatusTransition) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupOrderStatus, t.StatusChanges()), Key: orderID, Event: schemas.OrderStatusChanged{
			Meta:    streams.Meta("OrderStatusChanged", schemas.Metadata{EventID: c.CauseEventID, CorrelationID: orderID}, orderID, c.At, ""),
			OrderID: orderID, FromStatus: c.FromStatus, ToStatus: c.ToStatus, Reason: c.Reason, Version: c.Version,
		}}
	}
	return func(state *schemas.OrderStatus, ev schemas.Event, msg streams.Message) (*schemas.OrderStatus, []streams.Emit, error) {
		s := schemas.OrderStatus{OrderID: msg.Key, Status: schemas.StatusUnknown, History: []schemas.StatusEntry{}, AppliedEventIDs: []string{}}
		if state != nil {
			// a shallow copy: Apply and derive replace the slices they change rather than write
			// into them, and a change is appended past the copied length (below), so the caller's
			// state is never modified
			s = *state
		}
		id := ev.Metadata().EventID
		if _, seen := slices.BinarySearch(s.AppliedEventIDs, id); seen {
			for _, c := range s.Changes {
				if c.CauseEventID == id {
					return nil, []streams.Emit{changed(s.OrderID, c)}, nil
				}
			}
			return nil, nil, nil
		}
		before, beforeReason := s.Status, s.Reason
		applied, err := Apply(&s, ev)
		if err != nil || !applied {
			return nil, nil, err
		}
		var emits []streams.Emit
		if s.Status != before || !sameReason(beforeReason, s.Reason) {
			c := schemas.StatusTransition{CauseEventID: id, FromStatus: before, ToStatus: s.Status, Reason: s.Reason,
				Version: s.Version, At: msg.Timestamp.UTC().Truncate(time.Millisecond)}
			s.Changes = append(s.Changes[:len(s.Changes):len(s.Changes)], c)
			emits = append(emits, changed(s.OrderID, c))
		}
		return &s, emits, nil
	}
}

// Served is s as the table serves it, without its Changes: the record of emitted changes depends
// on the order the inputs arrived in, the rest of the value does not (a rebuild from the same
// inputs in any order gives the same served value).
func Served(s schemas.OrderStatus) schemas.OrderStatus {
	s.Changes = nil
	return s
}

func sameReason(a, b *schemas.CancelReason) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// TableCodec is the codec of the order-status table (Avro on the registry wire format).
func TableCodec(serde *codec.Serde) goka.Codec {
	return codec.GokaCodec[schemas.OrderStatus]{Serde: serde}
}

// Spec is what the order-status processor reads and writes.
func Spec(t topology.Topology) streams.Spec {
	return streams.Spec{Processor: topology.GroupOrderStatus,
		Inputs:  []goka.Stream{t.OrderEvents(), t.PaymentEvents(), t.InventoryEvents(), t.ShippingEvents(), t.DeadlineEvents()},
		Outputs: []goka.Stream{t.StatusChanges()}}
}

// Group defines the order-status processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.Callback(env, topology.GroupOrderStatus, Decide(t))
	return streams.Define(t, Spec(t), TableCodec(env.Serde), cb)
}
