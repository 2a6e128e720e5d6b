package shipping

import (
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
)

// State is the shipping table value for one order. Every field is set once per order, so the
// value never grows; an input is recognised as applied from the flag it set.
type State struct {
	Authorized bool      `json:"authorized,omitempty"`
	Reserved   bool      `json:"reserved,omitempty"`
	Cancelled  bool      `json:"cancelled,omitempty"` // declined, out of stock, released or timed out: never shipped
	ShipmentID string    `json:"shipment_id,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"` // when the shipment was created
	CausedBy   string    `json:"caused_by,omitempty"` // id of the event that completed the pair
}

// MarshalState implements streams.BinaryState.
func (s *State) MarshalState(w *streams.Writer) {
	w.Bool(s.Authorized)
	w.Bool(s.Reserved)
	w.Bool(s.Cancelled)
	w.String(s.ShipmentID)
	w.Varint(s.CreatedAt.UnixMilli())
	w.String(s.CausedBy)
}

// UnmarshalState implements streams.BinaryState.
func (s *State) UnmarshalState(r *streams.Reader) {
	s.Authorized, s.Reserved, s.Cancelled, s.ShipmentID = r.Bool(), r.Bool(), r.Bool(), r.String()
	s.CreatedAt = time.UnixMilli(r.Varint()).UTC()
	s.CausedBy = r.String()
}

// ShipmentID is the deterministic shipment id of an order.
func ShipmentID(orderID string) string { return "shp-" + orderID }

// Decide is the shipping service's pure decision function.
func Decide(t topology.Topology) streams.Decider[State] {
	shipment := func(s State, orderID string) streams.Emit {
		// One shipment per order, whichever event completed the pair: the event id derives
		// from the order, the causation id names the completing event.
		meta := streams.Meta("ShipmentCreated", schemas.Metadata{EventID: "shipment/" + orderID, CorrelationID: orderID}, orderID, s.CreatedAt, "")
		causedBy := s.CausedBy
		meta.CausationID = &causedBy
		return streams.Emit{Topic: t.Out(topology.GroupShipping, t.ShippingEvents()), Key: orderID, Event: schemas.ShipmentCreated{
			Meta: meta, OrderID: orderID, ShipmentID: s.ShipmentID, CreatedAt: meta.OccurredAt,
		}}
	}
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = *state
		}
		var orderID string
		var flag *bool
		switch e := ev.(type) {
		case schemas.PaymentAuthorized:
			flag, orderID = &s.Authorized, e.OrderID
		case schemas.StockReserved:
			flag, orderID = &s.Reserved, e.OrderID
		case schemas.PaymentDeclined:
			flag, orderID = &s.Cancelled, e.OrderID
		case schemas.StockRejected:
			flag, orderID = &s.Cancelled, e.OrderID
		case schemas.StockReleased:
			flag, orderID = &s.Cancelled, e.OrderID
		case schemas.OrderTimedOut:
			flag, orderID = &s.Cancelled, e.OrderID
		default:
			return nil, nil, nil
		}
		if msg.Replay {
			if s.ShipmentID != "" {
				return nil, []streams.Emit{shipment(s, orderID)}, nil
			}
			return nil, nil, nil
		}
		if *flag {
			return nil, nil, nil // redelivered, or a second cancellation
		}
		*flag = true
		var emits []streams.Emit
		if s.Authorized && s.Reserved && !s.Cancelled && s.ShipmentID == "" {
			s.ShipmentID = ShipmentID(orderID)
			s.CreatedAt = msg.Timestamp.UTC().Truncate(time.Millisecond)
			s.CausedBy = ev.Metadata().EventID
			emits = append(emits, shipment(s, orderID))
		}
		return &s, emits, nil
	}
}

// Spec is what the shipping processor reads and writes.
func Spec(t topology.Topology) streams.Spec {
	return streams.Spec{Processor: topology.GroupShipping,
		Inputs:  []goka.Stream{t.PaymentEvents(), t.InventoryEvents(), t.DeadlineEvents()},
		Outputs: []goka.Stream{t.ShippingEvents()}}
}

// Accepts lists the event types the shipping processor acts on; the others on its inputs are
// passed over undecoded.
var Accepts = []schemas.Event{schemas.PaymentAuthorized{}, schemas.StockReserved{},
	schemas.PaymentDeclined{}, schemas.StockRejected{}, schemas.StockReleased{}, schemas.OrderTimedOut{}}

// Group defines the shipping processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupShipping, Decide(t), Accepts...)
	return streams.Define(t, Spec(t), streams.StateCodec[State, *State]{}, cb)
}
