package deadlines

import (
	"log/slog"
	"os"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
)

// DefaultTimeout is how long an order may take from PLACED to a terminal status.
const DefaultTimeout = 15 * time.Minute

// Timeout is DefaultTimeout unless ORDERFLOW_ORDER_DEADLINE (a Go duration) says otherwise.
func Timeout() time.Duration {
	if v := os.Getenv("ORDERFLOW_ORDER_DEADLINE"); v != "" {
		d, err := time.ParseDuration(v)
		if err == nil && d > 0 {
			return d
		}
		slog.Warn("ORDERFLOW_ORDER_DEADLINE is not a positive duration; using the default", "value", v, "default", DefaultTimeout)
	}
	return DefaultTimeout
}

// State is the deadlines table value of one order. Its size is fixed.
type State struct {
	PlacedAt time.Time // zero until OrderPlaced
	Deadline time.Time // PlacedAt + the timeout in effect when the order was placed
	Done     bool      // terminal: declined, out of stock, shipped or timed out
	TimedOut bool
}

// MarshalState implements streams.BinaryState.
func (s *State) MarshalState(w *streams.Writer) {
	w.Varint(millis(s.PlacedAt))
	w.Varint(millis(s.Deadline))
	w.Bool(s.Done)
	w.Bool(s.TimedOut)
}

// UnmarshalState implements streams.BinaryState.
func (s *State) UnmarshalState(r *streams.Reader) {
	s.PlacedAt, s.Deadline = fromMillis(r.Varint()), fromMillis(r.Varint())
	s.Done, s.TimedOut = r.Bool(), r.Bool()
}

// Pending reports the deadline the scheduler must fire: the order is placed and not done.
func (s State) Pending() (time.Time, bool) {
	return s.Deadline, !s.PlacedAt.IsZero() && !s.Done
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Decide is the deadline rule, with orders timing out timeout after they were placed.
func Decide(t topology.Topology, timeout time.Duration) streams.Decider[State] {
	timedOut := func(s State, orderID string) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupDeadlines, t.DeadlineEvents()), Key: orderID, Event: schemas.OrderTimedOut{
			Meta:    streams.Meta("OrderTimedOut", schemas.Metadata{EventID: "deadline/" + orderID, CorrelationID: orderID}, orderID, s.Deadline, ""),
			OrderID: orderID, PlacedAt: s.PlacedAt, Deadline: s.Deadline,
		}}
	}
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = *state
		}
		switch e := ev.(type) {
		case schemas.OrderPlaced:
			if msg.Replay || !s.PlacedAt.IsZero() {
				return nil, nil, nil
			}
			s.PlacedAt = e.PlacedAt.UTC().Truncate(time.Millisecond)
			s.Deadline = s.PlacedAt.Add(timeout)
			return &s, nil, nil
		case schemas.PaymentDeclined, schemas.StockRejected, schemas.ShipmentCreated:
			if msg.Replay || s.Done {
				return nil, nil, nil
			}
			s.Done = true
			return &s, nil, nil
		case schemas.TimerFired:
			if msg.Replay {
				if s.TimedOut && e.Deadline.Equal(s.Deadline) {
					return nil, []streams.Emit{timedOut(s, msg.Key)}, nil
				}
				return nil, nil, nil
			}
			// only the deadline in effect, once, and never before it by the firing's record time
			// (a record without one, as in goka's tester, is taken at its word)
			early := !msg.Timestamp.IsZero() && msg.Timestamp.Before(s.Deadline)
			if s.Done || s.PlacedAt.IsZero() || !e.Deadline.Equal(s.Deadline) || early {
				return nil, nil, nil
			}
			s.Done, s.TimedOut = true, true
			return &s, []streams.Emit{timedOut(s, msg.Key)}, nil
		}
		return nil, nil, nil
	}
}

// Spec is what the deadlines processor reads and writes.
func Spec(t topology.Topology) streams.Spec {
	return streams.Spec{Processor: topology.GroupDeadlines,
		Inputs:  []goka.Stream{t.OrderEvents(), t.PaymentEvents(), t.InventoryEvents(), t.ShippingEvents(), t.TimerFirings()},
		Outputs: []goka.Stream{t.DeadlineEvents()}}
}

// Accepts lists the event types the processor acts on (the others are passed over undecoded).
var Accepts = []schemas.Event{schemas.OrderPlaced{}, schemas.PaymentDeclined{}, schemas.StockRejected{},
	schemas.ShipmentCreated{}, schemas.TimerFired{}}

// Group defines the deadlines processor with the Timeout of the environment.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupDeadlines, Decide(t, Timeout()), Accepts...)
	return streams.Define(t, Spec(t), TableCodec(), cb)
}

// TableCodec is the codec of the deadlines table.
func TableCodec() goka.Codec { return streams.StateCodec[State, *State]{} }

// PendingDeadline reads a deadlines table value for the timers scheduler.
func PendingDeadline(_ string, value []byte) (time.Time, bool, error) {
	v, err := TableCodec().Decode(value)
	if err != nil {
		return time.Time{}, false, err
	}
	d, pending := v.(streams.Envelope[State]).State.Pending()
	return d, pending, nil
}
