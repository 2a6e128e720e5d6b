package shipping

import (
	"log/slog"
	"os"
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
	// The order's deadline (see Deadline): set from OrderPlaced, fired by the timers scheduler.
	PlacedAt time.Time `json:"placed_at,omitzero"`
	Deadline time.Time `json:"deadline,omitzero"`
	TimedOut bool      `json:"timed_out,omitempty"`
	// The first of the pair (authorization, reservation) to arrive, so that the shipment is
	// dated and caused by the later of the two by event time, whichever arrived last: a rebuild,
	// which reads the inputs merged by time, then makes the same shipment.
	FirstAt time.Time `json:"first_at,omitzero"`
	FirstID string    `json:"first_id,omitempty"`
}

// MarshalState implements streams.BinaryState. The deadline and first-of-the-pair fields come
// last: a value written before they existed ends before them and reads them as zero.
func (s *State) MarshalState(w *streams.Writer) {
	w.Bool(s.Authorized)
	w.Bool(s.Reserved)
	w.Bool(s.Cancelled)
	w.String(s.ShipmentID)
	w.Varint(s.CreatedAt.UnixMilli())
	w.String(s.CausedBy)
	if s.PlacedAt.IsZero() && !s.TimedOut && s.FirstAt.IsZero() && s.FirstID == "" {
		return
	}
	w.Varint(s.PlacedAt.UnixMilli())
	w.Varint(s.Deadline.UnixMilli())
	w.Bool(s.TimedOut)
	w.Varint(s.FirstAt.UnixMilli())
	w.String(s.FirstID)
}

// UnmarshalState implements streams.BinaryState.
func (s *State) UnmarshalState(r *streams.Reader) {
	s.Authorized, s.Reserved, s.Cancelled, s.ShipmentID = r.Bool(), r.Bool(), r.Bool(), r.String()
	s.CreatedAt = time.UnixMilli(r.Varint()).UTC()
	s.CausedBy = r.String()
	if r.More() {
		s.PlacedAt, s.Deadline = time.UnixMilli(r.Varint()).UTC(), time.UnixMilli(r.Varint()).UTC()
		s.TimedOut = r.Bool()
		s.FirstAt, s.FirstID = time.UnixMilli(r.Varint()).UTC(), r.String()
	}
}

// PendingDeadline reports the deadline the timers scheduler must fire: the order is placed,
// neither shipped nor cancelled.
func (s State) PendingDeadline() (time.Time, bool) {
	return s.Deadline, !s.PlacedAt.IsZero() && !s.Cancelled && s.ShipmentID == ""
}

// DefaultDeadline is how long an order may take from PLACED to shipped before it is cancelled as
// TIMEOUT: far beyond what an order takes while the pipeline keeps up (about a second) and
// beyond a backlog drained within the lag SLO, so it trips only for an order whose step is lost.
const DefaultDeadline = 15 * time.Minute

// Deadline is DefaultDeadline unless ORDERFLOW_ORDER_DEADLINE (a Go duration) says otherwise.
func Deadline() time.Duration {
	if v := os.Getenv("ORDERFLOW_ORDER_DEADLINE"); v != "" {
		d, err := time.ParseDuration(v)
		if err == nil && d > 0 {
			return d
		}
		slog.Warn("ORDERFLOW_ORDER_DEADLINE is not a positive duration; using the default", "value", v, "default", DefaultDeadline)
	}
	return DefaultDeadline
}

// ShipmentID is the deterministic shipment id of an order.
func ShipmentID(orderID string) string { return "shp-" + orderID }

// Decide is the shipping service's pure decision function, with orders cancelled as TIMEOUT
// deadline after they were placed unless shipped or cancelled before. Shipping is where an
// order's fate is sealed, so it alone rules between shipping and timing out: once it shipped an
// order, that order's deadline never acts, and once the deadline acted, the order never ships.
func Decide(t topology.Topology, deadline time.Duration) streams.Decider[State] {
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
	timedOut := func(s State, orderID string) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupShipping, t.DeadlineEvents()), Key: orderID, Event: schemas.OrderTimedOut{
			Meta:    streams.Meta("OrderTimedOut", schemas.Metadata{EventID: "deadline/" + orderID, CorrelationID: orderID}, orderID, s.Deadline, ""),
			OrderID: orderID, PlacedAt: s.PlacedAt, Deadline: s.Deadline,
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
		case schemas.OrderPlaced:
			if err := e.Validate(); err != nil {
				return nil, nil, streams.Rejectf("%v", err)
			}
			if msg.Replay || !s.PlacedAt.IsZero() {
				return nil, nil, nil
			}
			s.PlacedAt = e.PlacedAt.UTC().Truncate(time.Millisecond)
			s.Deadline = s.PlacedAt.Add(deadline)
			return &s, nil, nil
		case schemas.TimerFired:
			if msg.Replay {
				if s.TimedOut && e.Deadline.Equal(s.Deadline) {
					return nil, []streams.Emit{timedOut(s, msg.Key)}, nil
				}
				return nil, nil, nil
			}
			// only the deadline in effect, once, never before it by the firing's record time (a
			// record without one, as in goka's tester, is taken at its word), and never for an
			// order already shipped or cancelled
			early := !msg.Timestamp.IsZero() && msg.Timestamp.Before(s.Deadline)
			if _, pending := s.PendingDeadline(); !pending || !e.Deadline.Equal(s.Deadline) || early {
				return nil, nil, nil
			}
			s.Cancelled, s.TimedOut = true, true
			return &s, []streams.Emit{timedOut(s, msg.Key)}, nil
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
		at, id := msg.Timestamp.UTC().Truncate(time.Millisecond), ev.Metadata().EventID
		var emits []streams.Emit
		switch {
		case s.Authorized && s.Reserved && !s.Cancelled && s.ShipmentID == "":
			// the later of the pair by event time (then by id) completed it, whichever came last
			if s.FirstAt.After(at) || (s.FirstAt.Equal(at) && s.FirstID > id) {
				at, id = s.FirstAt, s.FirstID
			}
			s.ShipmentID, s.CreatedAt, s.CausedBy = ShipmentID(orderID), at, id
			s.FirstAt, s.FirstID = time.Time{}, ""
			emits = append(emits, shipment(s, orderID))
		case (s.Authorized != s.Reserved) && s.FirstID == "" && (flag == &s.Authorized || flag == &s.Reserved):
			s.FirstAt, s.FirstID = at, id
		}
		return &s, emits, nil
	}
}

// Spec is what the shipping processor reads and writes.
func Spec(t topology.Topology) streams.Spec {
	return streams.Spec{Processor: topology.GroupShipping,
		Inputs:  []goka.Stream{t.PaymentEvents(), t.InventoryEvents(), t.OrderEvents(), t.TimerFirings()},
		Outputs: []goka.Stream{t.ShippingEvents(), t.DeadlineEvents()}}
}

// Accepts lists the event types the shipping processor acts on; the others on its inputs are
// passed over undecoded.
var Accepts = []schemas.Event{schemas.PaymentAuthorized{}, schemas.StockReserved{},
	schemas.PaymentDeclined{}, schemas.StockRejected{}, schemas.StockReleased{}, schemas.OrderPlaced{}, schemas.TimerFired{}}

// TableCodec is the codec of the shipping table.
func TableCodec() goka.Codec { return streams.StateCodec[State, *State]{} }

// Group defines the shipping processor, with the Deadline of the environment.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupShipping, Decide(t, Deadline()), Accepts...)
	return streams.Define(t, Spec(t), TableCodec(), cb)
}

// PendingDeadline reads a shipping table value for the timers scheduler.
func PendingDeadline(_ string, value []byte) (time.Time, bool, error) {
	v, err := TableCodec().Decode(value)
	if err != nil {
		return time.Time{}, false, err
	}
	d, pending := v.(streams.Envelope[State]).State.PendingDeadline()
	return d, pending, nil
}
