package shipping

import (
	"slices"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/pipelines/streams"
	"github.com/orderflow/orderflow/pipelines/topology"
	"github.com/orderflow/orderflow/schemas"
)

// State is the shipping table value for one order.
type State struct {
	Authorized bool     `json:"authorized,omitempty"`
	Reserved   bool     `json:"reserved,omitempty"`
	Cancelled  bool     `json:"cancelled,omitempty"`
	ShipmentID string   `json:"shipment_id,omitempty"`
	Applied    []string `json:"applied,omitempty"`
}

// ShipmentID is the deterministic shipment id of an order.
func ShipmentID(orderID string) string { return "shp-" + orderID }

// Decide is the shipping service's pure decision function.
func Decide(t topology.Topology) streams.Decider[State] {
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = *state
			s.Applied = slices.Clone(state.Applied)
		}
		id := ev.Metadata().EventID
		if slices.Contains(s.Applied, id) {
			return nil, nil, nil
		}
		var orderID string
		switch e := ev.(type) {
		case schemas.PaymentAuthorized:
			s.Authorized, orderID = true, e.OrderID
		case schemas.StockReserved:
			s.Reserved, orderID = true, e.OrderID
		case schemas.PaymentDeclined:
			s.Cancelled, orderID = true, e.OrderID
		case schemas.StockRejected:
			s.Cancelled, orderID = true, e.OrderID
		case schemas.StockReleased:
			s.Cancelled, orderID = true, e.OrderID
		default:
			return nil, nil, nil
		}
		s.Applied = append(s.Applied, id)
		var emits []streams.Emit
		if s.Authorized && s.Reserved && !s.Cancelled && s.ShipmentID == "" {
			s.ShipmentID = ShipmentID(orderID)
			// One shipment per order, whichever event completed the pair: the event id derives
			// from the order, the causation id names the completing event.
			meta := streams.Meta("ShipmentCreated", schemas.Metadata{EventID: "shipment/" + orderID, CorrelationID: orderID}, orderID, msg.Timestamp, "")
			meta.CausationID = &id
			emits = append(emits, streams.Emit{Topic: t.ShippingEvents(), Key: orderID, Event: schemas.ShipmentCreated{
				Meta: meta, OrderID: orderID, ShipmentID: s.ShipmentID, CreatedAt: meta.OccurredAt,
			}})
		}
		return &s, emits, nil
	}
}

// Group defines the shipping processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupShipping, Decide(t))
	return streams.DefineGroup(t.Group(topology.GroupShipping), streams.JSONCodec[streams.Envelope[State]]{}, cb,
		[]goka.Stream{t.PaymentEvents(), t.InventoryEvents()},
		t.ShippingEvents())
}
