package orderstatus

import (
	"slices"
	"sort"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/pipelines/streams"
	"github.com/orderflow/orderflow/pipelines/topology"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

var stepRank = map[schemas.Status]int{
	schemas.StatusPlaced: 1, schemas.StatusPaymentAuthorized: 2, schemas.StatusInventoryReserved: 3,
	schemas.StatusShipped: 4, schemas.StatusCancelled: 5,
}

var reasonRank = map[schemas.CancelReason]int{
	schemas.CancelUnknown: 0, schemas.CancelOutOfStock: 1, schemas.CancelPaymentDeclined: 2,
}

func clone(s schemas.OrderStatus) schemas.OrderStatus {
	s.History = slices.Clone(s.History)
	s.AppliedEventIDs = slices.Clone(s.AppliedEventIDs)
	return s
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
	cancel := func(reason schemas.CancelReason) {
		if s.Reason == nil || reasonRank[reason] > reasonRank[*s.Reason] {
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
	case schemas.ShipmentCreated:
		setOnce(&s.ShippedAt, at)
	case schemas.PaymentRefunded, schemas.StockReleased:
		// consequences of a cancellation already counted
	default:
		return false, nil
	}
	// kept sorted, so the record does not depend on arrival order
	i, _ := slices.BinarySearch(s.AppliedEventIDs, id)
	s.AppliedEventIDs = slices.Insert(s.AppliedEventIDs, i, id)
	s.Version = int64(len(s.AppliedEventIDs))
	derive(s)
	return true, nil
}

// derive recomputes status and history from the step times.
func derive(s *schemas.OrderStatus) {
	var h []schemas.StatusEntry
	add := func(st schemas.Status, at *time.Time) {
		if at != nil {
			h = append(h, schemas.StatusEntry{Status: st, At: *at})
		}
	}
	add(schemas.StatusPlaced, s.PlacedAt)
	add(schemas.StatusPaymentAuthorized, s.PaymentAuthorizedAt)
	add(schemas.StatusInventoryReserved, s.InventoryReservedAt)
	add(schemas.StatusShipped, s.ShippedAt)
	add(schemas.StatusCancelled, s.CancelledAt)
	sort.SliceStable(h, func(i, j int) bool {
		if !h[i].At.Equal(h[j].At) {
			return h[i].At.Before(h[j].At)
		}
		return stepRank[h[i].Status] < stepRank[h[j].Status]
	})
	if h == nil {
		h = []schemas.StatusEntry{}
	}
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
func Decide(t topology.Topology) streams.Decider[schemas.OrderStatus] {
	return func(state *schemas.OrderStatus, ev schemas.Event, msg streams.Message) (*schemas.OrderStatus, []streams.Emit, error) {
		s := schemas.OrderStatus{OrderID: msg.Key, Status: schemas.StatusUnknown, History: []schemas.StatusEntry{}, AppliedEventIDs: []string{}}
		if state != nil {
			s = clone(*state)
		}
		before, beforeReason := s.Status, s.Reason
		changed, err := Apply(&s, ev)
		if err != nil || !changed {
			return nil, nil, err
		}
		var emits []streams.Emit
		if s.Status != before || !sameReason(beforeReason, s.Reason) {
			emits = append(emits, streams.Emit{Topic: t.Out(topology.GroupOrderStatus, t.StatusChanges()), Key: s.OrderID, Event: schemas.OrderStatusChanged{
				Meta:    streams.Meta("OrderStatusChanged", ev.Metadata(), s.OrderID, msg.Timestamp, ""),
				OrderID: s.OrderID, FromStatus: before, ToStatus: s.Status, Reason: s.Reason, Version: s.Version,
			}})
		}
		return &s, emits, nil
	}
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

// Group defines the order-status processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.Callback(env, topology.GroupOrderStatus, Decide(t))
	return streams.DefineGroup(t, topology.GroupOrderStatus, TableCodec(env.Serde), cb,
		[]goka.Stream{t.OrderEvents(), t.PaymentEvents(), t.InventoryEvents(), t.ShippingEvents()},
		t.StatusChanges())
}
