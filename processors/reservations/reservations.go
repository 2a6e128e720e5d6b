package reservations

import (
	"maps"
	"slices"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/pipelines/streams"
	"github.com/orderflow/orderflow/pipelines/topology"
	"github.com/orderflow/orderflow/schemas"
)

// Phases of an order's reservation.
const (
	Pending   = "PENDING"   // holds asked, replies outstanding
	Reserved  = "RESERVED"  // every SKU held
	Rejected  = "REJECTED"  // some SKU short: holds undone
	Released  = "RELEASED"  // payment declined: holds undone
	Committed = "COMMITTED" // shipped: held quantities left stock
	Skipped   = "SKIPPED"   // payment declined before the order arrived: nothing held
)

// Reply is the ledger's answer for one SKU.
type Reply struct {
	Granted   bool  `json:"granted"`
	Available int64 `json:"available"`
}

// State is the reservations table value for one order.
type State struct {
	Phase           string           `json:"phase,omitempty"`
	Quantities      map[string]int32 `json:"quantities,omitempty"`
	Replies         map[string]Reply `json:"replies,omitempty"`
	PaymentDeclined bool             `json:"payment_declined,omitempty"`
	Shipped         bool             `json:"shipped,omitempty"` // shipment seen before the reservation completed
	ShipmentCause   schemas.Metadata `json:"shipment_cause,omitempty"`
	Applied         []string         `json:"applied,omitempty"`
}

func (s State) clone() State {
	s.Quantities = maps.Clone(s.Quantities)
	s.Replies = maps.Clone(s.Replies)
	s.Applied = slices.Clone(s.Applied)
	return s
}

// Decide is the reservation coordinator's pure decision function.
func Decide(t topology.Topology) streams.Decider[State] {
	command := func(cause schemas.Metadata, orderID, sku string, op schemas.SkuOp, qty int32, msg streams.Message) streams.Emit {
		return streams.Emit{Topic: t.SkuCommands(), Key: sku, Event: schemas.SkuCommand{
			Meta: streams.Meta("SkuCommand", cause, orderID, msg.Timestamp, sku+"/"+string(op)),
			SKU:  sku, OrderID: orderID, Op: op, Quantity: qty,
		}}
	}
	releaseAll := func(s State, cause schemas.Metadata, orderID string, granted func(string) bool, msg streams.Message) []streams.Emit {
		var out []streams.Emit
		for _, sku := range sortedKeys(s.Quantities) {
			if granted(sku) {
				out = append(out, command(cause, orderID, sku, schemas.SkuOpRelease, s.Quantities[sku], msg))
			}
		}
		return out
	}
	lines := func(s State) []schemas.StockLine {
		var out []schemas.StockLine
		for _, sku := range sortedKeys(s.Quantities) {
			out = append(out, schemas.StockLine{SKU: sku, Quantity: s.Quantities[sku]})
		}
		return out
	}

	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = state.clone()
		}
		id := ev.Metadata().EventID
		if slices.Contains(s.Applied, id) {
			return nil, nil, nil
		}
		var emits []streams.Emit
		switch e := ev.(type) {
		case schemas.OrderPlaced:
			if err := e.Validate(); err != nil {
				return nil, nil, streams.Rejectf("%v", err)
			}
			if s.Phase != "" {
				break // this order is already being reserved
			}
			s.Quantities = e.Quantities()
			if s.PaymentDeclined {
				s.Phase = Skipped
				break
			}
			s.Phase = Pending
			s.Replies = map[string]Reply{}
			for _, sku := range sortedKeys(s.Quantities) {
				emits = append(emits, command(e.Meta, e.OrderID, sku, schemas.SkuOpHold, s.Quantities[sku], msg))
			}
		case schemas.SkuReply:
			if e.Op != schemas.SkuOpHold || s.Phase != Pending {
				return nil, nil, nil // acks of releases/commits, or a late duplicate
			}
			if s.Replies == nil {
				s.Replies = map[string]Reply{} // an empty map does not survive the JSON table codec
			}
			if _, asked := s.Quantities[e.SKU]; !asked {
				return nil, nil, streams.Rejectf("reply for SKU %s that order %s did not ask for", e.SKU, e.OrderID)
			}
			s.Replies[e.SKU] = Reply{Granted: e.Granted, Available: e.Available}
			if len(s.Replies) < len(s.Quantities) {
				break
			}
			granted := func(sku string) bool { return s.Replies[sku].Granted }
			allGranted := !slices.ContainsFunc(sortedKeys(s.Replies), func(sku string) bool { return !granted(sku) })
			switch {
			case !allGranted:
				s.Phase = Rejected
				emits = append(emits, releaseAll(s, e.Meta, e.OrderID, granted, msg)...)
				rej := schemas.StockRejected{Meta: streams.Meta("StockRejected", e.Meta, e.OrderID, msg.Timestamp, ""), OrderID: e.OrderID}
				for _, sku := range sortedKeys(s.Quantities) {
					if !granted(sku) {
						rej.ShortLines = append(rej.ShortLines, schemas.ShortLine{SKU: sku, Requested: s.Quantities[sku], Available: s.Replies[sku].Available})
					}
				}
				emits = append(emits, streams.Emit{Topic: t.InventoryEvents(), Key: e.OrderID, Event: rej})
			case s.PaymentDeclined:
				s.Phase = Released
				emits = append(emits, releaseAll(s, e.Meta, e.OrderID, granted, msg)...)
				emits = append(emits, streams.Emit{Topic: t.InventoryEvents(), Key: e.OrderID, Event: schemas.StockReleased{
					Meta:    streams.Meta("StockReleased", e.Meta, e.OrderID, msg.Timestamp, ""),
					OrderID: e.OrderID, Lines: lines(s), Reason: string(schemas.CancelPaymentDeclined)}})
			default:
				s.Phase = Reserved
				emits = append(emits, streams.Emit{Topic: t.InventoryEvents(), Key: e.OrderID, Event: schemas.StockReserved{
					Meta:    streams.Meta("StockReserved", e.Meta, e.OrderID, msg.Timestamp, ""),
					OrderID: e.OrderID, Lines: lines(s)}})
				if s.Shipped {
					s.Phase = Committed
					for _, sku := range sortedKeys(s.Quantities) {
						emits = append(emits, command(s.ShipmentCause, e.OrderID, sku, schemas.SkuOpCommit, s.Quantities[sku], msg))
					}
				}
			}
		case schemas.PaymentDeclined:
			s.PaymentDeclined = true
			if s.Phase == Reserved {
				s.Phase = Released
				emits = append(emits, releaseAll(s, e.Meta, e.OrderID, func(string) bool { return true }, msg)...)
				emits = append(emits, streams.Emit{Topic: t.InventoryEvents(), Key: e.OrderID, Event: schemas.StockReleased{
					Meta:    streams.Meta("StockReleased", e.Meta, e.OrderID, msg.Timestamp, ""),
					OrderID: e.OrderID, Lines: lines(s), Reason: string(schemas.CancelPaymentDeclined)}})
			}
		case schemas.ShipmentCreated:
			switch s.Phase {
			case Reserved:
				s.Phase = Committed
				for _, sku := range sortedKeys(s.Quantities) {
					emits = append(emits, command(e.Meta, e.OrderID, sku, schemas.SkuOpCommit, s.Quantities[sku], msg))
				}
			case "", Pending:
				// Shipping saw StockReserved that this table has not recorded yet (its write was
				// lost in a crash and the reply is being redelivered): commit once reserved.
				s.Shipped = true
				s.ShipmentCause = e.Meta
			default:
				return nil, nil, streams.Rejectf("shipment %s for order %s whose stock is %q, not reserved", e.ShipmentID, e.OrderID, s.Phase)
			}
		default:
			return nil, nil, nil
		}
		s.Applied = append(s.Applied, id)
		return &s, emits, nil
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// Group defines the reservations processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupReservations, Decide(t))
	return streams.DefineGroup(t.Group(topology.GroupReservations), streams.JSONCodec[streams.Envelope[State]]{}, cb,
		[]goka.Stream{t.OrderEvents(), t.PaymentEvents(), t.ShippingEvents(), t.SkuReplies()},
		t.SkuCommands(), t.InventoryEvents())
}
