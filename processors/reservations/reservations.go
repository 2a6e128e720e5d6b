package reservations

import (
	"maps"
	"slices"
	"strconv"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
)

// Phases of an order's reservation.
const (
	Pending   = "PENDING"   // holds asked, replies outstanding
	Reserved  = "RESERVED"  // every SKU held
	Rejected  = "REJECTED"  // some SKU short: holds undone
	Released  = "RELEASED"  // order cancelled (payment declined, timed out): holds undone
	Committed = "COMMITTED" // shipped: held quantities left stock
	Skipped   = "SKIPPED"   // order cancelled before it arrived: nothing held
)

// Reply is the ledger's answer for one SKU.
type Reply struct {
	Granted   bool  `json:"granted"`
	Available int64 `json:"available"`
	HoldSeq   int64 `json:"hold_seq,omitempty"` // the ledger's number of the granted hold
}

// State is the reservations table value for one order. Its size depends on the order's lines,
// never on history: an input is recognised as applied from the phase and the replies it set.
type State struct {
	Phase           string           `json:"phase,omitempty"`
	Quantities      map[string]int32 `json:"quantities,omitempty"`
	Replies         map[string]Reply `json:"replies,omitempty"`
	PaymentDeclined bool             `json:"payment_declined,omitempty"`
	Shipped         bool             `json:"shipped,omitempty"` // shipment seen before the reservation completed
	// CancelReason is the first cancellation of the order this table saw: PAYMENT_DECLINED (a
	// PaymentDeclined) or TIMEOUT (an OrderTimedOut); its holds are released for it, and the
	// StockReleased carries it as its reason. Values written before it existed leave it empty;
	// their only cancellation was a declined payment (see cancelReason).
	CancelReason schemas.CancelReason `json:"cancel_reason,omitempty"`
}

// cancelled reports whether the order was cancelled: its holds are released (at once when
// reserved, on the last reply when pending) or never asked for.
func (s State) cancelled() bool { return s.PaymentDeclined || s.CancelReason != "" }

// cancelReason is CancelReason, reading an empty one as PAYMENT_DECLINED (the only cancellation
// reservations knew when it was not recorded).
func (s State) cancelReason() schemas.CancelReason {
	if s.CancelReason == "" && s.PaymentDeclined {
		return schemas.CancelPaymentDeclined
	}
	return s.CancelReason
}

// MarshalState implements streams.BinaryState. CancelReason, added for OrderTimedOut, comes last
// and only when set: a value without it is the earlier layout, which any release reads.
func (s *State) MarshalState(w *streams.Writer) {
	w.String(s.Phase)
	w.Int32Map(s.Quantities)
	w.Uvarint(uint64(len(s.Replies)))
	for _, sku := range sortedKeys(s.Replies) {
		r := s.Replies[sku]
		w.String(sku)
		w.Bool(r.Granted)
		w.Varint(r.Available)
		w.Varint(r.HoldSeq)
	}
	w.Bool(s.PaymentDeclined)
	w.Bool(s.Shipped)
	if s.CancelReason != "" {
		w.String(string(s.CancelReason))
	}
}

// UnmarshalState implements streams.BinaryState; a value of the earlier layout reads with
// CancelReason empty.
func (s *State) UnmarshalState(r *streams.Reader) {
	s.Phase = r.String()
	s.Quantities = r.Int32Map()
	if n := r.Count(4); n > 0 {
		s.Replies = make(map[string]Reply, n)
		for range n {
			sku := r.String()
			s.Replies[sku] = Reply{Granted: r.Bool(), Available: r.Varint(), HoldSeq: r.Varint()}
		}
	}
	s.PaymentDeclined, s.Shipped = r.Bool(), r.Bool()
	if r.More() { // written since OrderTimedOut
		s.CancelReason = schemas.CancelReason(r.String())
	}
}

func (s State) clone() State {
	s.Quantities = maps.Clone(s.Quantities)
	s.Replies = maps.Clone(s.Replies)
	return s
}

// outcomeCause is the cause of the events and commands that close an order's reservation: one
// per order whichever input completed it, so an outcome sent again after a crash, or derived
// again from another input, has the same event id and is ignored downstream.
func outcomeCause(orderID string) schemas.Metadata {
	return schemas.Metadata{EventID: "reservation/" + orderID, CorrelationID: orderID}
}

// Decide is the reservation coordinator's pure decision function.
//
// A HOLD sent again after the order's reservation was closed (a crash between a state write and
// an offset commit can do that) is granted by the ledger like any other, with a new hold number;
// its reply does not match the number this order recorded for the SKU, so it is answered with a
// RELEASE of exactly that hold. The ledger needs no memory of closed orders for this.
func Decide(t topology.Topology) streams.Decider[State] {
	command := func(cause schemas.Metadata, orderID, sku string, op schemas.SkuOp, qty int32, seq int64, msg streams.Message) streams.Emit {
		disc := sku + "/" + string(op)
		if op != schemas.SkuOpHold && cause.EventID != outcomeCause(orderID).EventID {
			disc += "/" + strconv.FormatInt(seq, 10)
		}
		meta := streams.Meta("SkuCommand", cause, orderID, msg.Timestamp, disc)
		return streams.Emit{Topic: t.Out(topology.GroupReservations, t.SkuCommands()), Key: sku, Event: schemas.SkuCommand{
			Meta: meta, SKU: sku, OrderID: orderID, Op: op, Quantity: qty, HoldSeq: seq,
		}}
	}
	outcome := func(eventType, orderID string, cause schemas.Event, msg streams.Message) schemas.Metadata {
		meta := streams.Meta(eventType, outcomeCause(orderID), orderID, msg.Timestamp, "")
		id := cause.Metadata().EventID
		meta.CausationID = &id
		return meta
	}
	releaseGranted := func(s State, orderID string, msg streams.Message) []streams.Emit {
		var out []streams.Emit
		for _, sku := range sortedKeys(s.Quantities) {
			if r := s.Replies[sku]; r.Granted {
				out = append(out, command(outcomeCause(orderID), orderID, sku, schemas.SkuOpRelease, s.Quantities[sku], r.HoldSeq, msg))
			}
		}
		return out
	}
	commitAll := func(s State, orderID string, msg streams.Message) []streams.Emit {
		var out []streams.Emit
		for _, sku := range sortedKeys(s.Quantities) {
			out = append(out, command(outcomeCause(orderID), orderID, sku, schemas.SkuOpCommit, s.Quantities[sku], s.Replies[sku].HoldSeq, msg))
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
	reserved := func(s State, orderID string, cause schemas.Event, msg streams.Message) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupReservations, t.InventoryEvents()), Key: orderID, Event: schemas.StockReserved{
			Meta: outcome("StockReserved", orderID, cause, msg), OrderID: orderID, Lines: lines(s)}}
	}
	released := func(s State, orderID string, cause schemas.Event, msg streams.Message) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupReservations, t.InventoryEvents()), Key: orderID, Event: schemas.StockReleased{
			Meta:    outcome("StockReleased", orderID, cause, msg),
			OrderID: orderID, Lines: lines(s), Reason: string(s.cancelReason())}}
	}
	rejected := func(s State, orderID string, cause schemas.Event, msg streams.Message) streams.Emit {
		rej := schemas.StockRejected{Meta: outcome("StockRejected", orderID, cause, msg), OrderID: orderID}
		for _, sku := range sortedKeys(s.Quantities) {
			if r := s.Replies[sku]; !r.Granted {
				rej.ShortLines = append(rej.ShortLines, schemas.ShortLine{SKU: sku, Requested: s.Quantities[sku], Available: r.Available})
			}
		}
		return streams.Emit{Topic: t.Out(topology.GroupReservations, t.InventoryEvents()), Key: orderID, Event: rej}
	}
	// effects are the outcome emits the order's phase implies; an input replayed after a crash
	// sends them again (same ids), so whichever of them the crash lost is not lost.
	effects := func(s State, orderID string, cause schemas.Event, msg streams.Message) []streams.Emit {
		switch s.Phase {
		case Reserved:
			return []streams.Emit{reserved(s, orderID, cause, msg)}
		case Committed:
			return append([]streams.Emit{reserved(s, orderID, cause, msg)}, commitAll(s, orderID, msg)...)
		case Rejected:
			return append(releaseGranted(s, orderID, msg), rejected(s, orderID, cause, msg))
		case Released:
			return append(releaseGranted(s, orderID, msg), released(s, orderID, cause, msg))
		}
		return nil
	}
	// cancel applies a cancellation for reason to s and returns what it causes: the first
	// cancellation of an order releases a complete reservation at once; a pending one is released
	// when its last reply arrives, an order not yet seen holds nothing. A later cancellation finds
	// the order cancelled and changes nothing.
	cancel := func(s *State, reason schemas.CancelReason, orderID string, cause schemas.Event, msg streams.Message) []streams.Emit {
		if s.cancelled() {
			return nil
		}
		s.CancelReason = reason
		if s.Phase != Reserved {
			return nil
		}
		s.Phase = Released
		return effects(*s, orderID, cause, msg)
	}
	holds := func(s State, e schemas.OrderPlaced, msg streams.Message) []streams.Emit {
		var out []streams.Emit
		for _, sku := range sortedKeys(s.Quantities) {
			if _, answered := s.Replies[sku]; !answered {
				out = append(out, command(e.Meta, e.OrderID, sku, schemas.SkuOpHold, s.Quantities[sku], 0, msg))
			}
		}
		return out
	}

	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = state.clone()
		}
		var emits []streams.Emit
		switch e := ev.(type) {
		case schemas.OrderPlaced:
			if err := e.Validate(); err != nil {
				return nil, nil, streams.Rejectf("%v", err)
			}
			if msg.Replay {
				if s.Phase == Pending {
					return nil, holds(s, e, msg), nil
				}
				return nil, effects(s, e.OrderID, e, msg), nil
			}
			if s.Phase != "" {
				return nil, nil, nil // this order is already being reserved
			}
			s.Quantities = e.Quantities()
			if s.cancelled() {
				s.Phase = Skipped
				break
			}
			s.Phase = Pending
			s.Replies = map[string]Reply{}
			emits = holds(s, e, msg)
		case schemas.SkuReply:
			if e.Op != schemas.SkuOpHold {
				return nil, nil, nil // acks of releases/commits
			}
			prev, answered := s.Replies[e.SKU]
			if _, asked := s.Quantities[e.SKU]; !asked && s.Phase != "" && s.Phase != Skipped {
				return nil, nil, streams.Rejectf("reply for SKU %s that order %s did not ask for", e.SKU, e.OrderID)
			}
			if e.Granted && ((answered && e.HoldSeq != prev.HoldSeq) || (!answered && s.Phase != Pending)) {
				// A hold this order does not own (a stale HOLD granted again): undo exactly it.
				return nil, []streams.Emit{command(e.Meta, e.OrderID, e.SKU, schemas.SkuOpRelease, e.Quantity, e.HoldSeq, msg)}, nil
			}
			if msg.Replay {
				return nil, effects(s, e.OrderID, e, msg), nil
			}
			if answered || s.Phase != Pending {
				return nil, nil, nil // a late duplicate
			}
			if s.Replies == nil {
				s.Replies = map[string]Reply{}
			}
			s.Replies[e.SKU] = Reply{Granted: e.Granted, Available: e.Available, HoldSeq: e.HoldSeq}
			if len(s.Replies) < len(s.Quantities) {
				break
			}
			allGranted := !slices.ContainsFunc(sortedKeys(s.Replies), func(sku string) bool { return !s.Replies[sku].Granted })
			switch {
			case !allGranted:
				s.Phase = Rejected
			case s.cancelled():
				s.Phase = Released
			case s.Shipped:
				s.Phase = Committed
			default:
				s.Phase = Reserved
			}
			emits = effects(s, e.OrderID, e, msg)
		case schemas.PaymentDeclined:
			if msg.Replay {
				return nil, effects(s, e.OrderID, e, msg), nil
			}
			if s.PaymentDeclined {
				return nil, nil, nil // redelivered
			}
			emits = cancel(&s, schemas.CancelPaymentDeclined, e.OrderID, e, msg)
			s.PaymentDeclined = true // recorded even after an earlier cancellation, as it always was
		case schemas.OrderTimedOut:
			if msg.Replay {
				return nil, effects(s, e.OrderID, e, msg), nil
			}
			if s.cancelled() {
				return nil, nil, nil // redelivered, or cancelled already (payment declined)
			}
			emits = cancel(&s, schemas.CancelTimeout, e.OrderID, e, msg)
		case schemas.ShipmentCreated:
			if msg.Replay {
				return nil, effects(s, e.OrderID, e, msg), nil
			}
			switch s.Phase {
			case Reserved:
				s.Phase = Committed
				emits = commitAll(s, e.OrderID, msg)
			case Committed:
				return nil, nil, nil // redelivered
			case "", Pending:
				if s.Shipped {
					return nil, nil, nil // redelivered
				}
				// Shipping saw StockReserved that this table has not recorded yet (its write was
				// lost in a crash and the reply is being redelivered): commit once reserved.
				s.Shipped = true
			default:
				return nil, nil, streams.Rejectf("shipment %s for order %s whose stock is %q, not reserved", e.ShipmentID, e.OrderID, s.Phase)
			}
		default:
			return nil, nil, nil
		}
		return &s, emits, nil
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// Spec is what the reservations processor reads and writes.
func Spec(t topology.Topology) streams.Spec {
	return streams.Spec{Processor: topology.GroupReservations,
		Inputs:  []goka.Stream{t.OrderEvents(), t.PaymentEvents(), t.ShippingEvents(), t.SkuReplies(), t.DeadlineEvents()},
		Outputs: []goka.Stream{t.SkuCommands(), t.InventoryEvents()}}
}

// Accepts lists the event types the reservations processor acts on; the others on its inputs
// (most payment events) are passed over undecoded.
var Accepts = []schemas.Event{schemas.OrderPlaced{}, schemas.SkuReply{}, schemas.PaymentDeclined{}, schemas.ShipmentCreated{},
	schemas.OrderTimedOut{}}

// Group defines the reservations processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupReservations, Decide(t), Accepts...)
	return streams.Define(t, Spec(t), streams.StateCodec[State, *State]{}, cb)
}
