package shipping

import (
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
)

// State is the shipping table value for one order. Every field but Labels is set once per order,
// and Labels grows by one per return, to at most MaxReturnLabels, so the value stays small; an
// input is recognised as applied from the flag or label it set.
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
	// Labels are the return labels of the order's returns (see ReturnLabels), at most
	// MaxReturnLabels: the only field that grows, by one per return.
	Labels ReturnLabels `json:"-"`
}

// MaxReturnLabels bounds the return labels of one order (the table value's size), as the returns
// orchestrator bounds an order's returns; an IssueReturnLabel or VoidReturnLabel for a further
// return is refused.
const MaxReturnLabels = 20

// ReturnLabel is the return label of one return of an order, recorded when it is issued, or when
// it is voided before it was ever issued (so that a late IssueReturnLabel never revives it).
type ReturnLabel struct {
	ReturnID string
	Voided   bool
}

// ReturnLabelID is the deterministic label id of a return.
func ReturnLabelID(returnID string) string { return "lbl-" + returnID }

// ReturnLabels is an order's return labels in the order they were recorded. It holds the list
// encoded in a string (each label as MarshalState writes it), so that State stays a comparable value: two
// states are == exactly when they record the same facts.
type ReturnLabels struct{ encoded string }

// NewReturnLabels returns the list of labels.
func NewReturnLabels(labels ...ReturnLabel) ReturnLabels {
	w := &streams.Writer{}
	for _, l := range labels {
		w.String(l.ReturnID)
		w.Bool(l.Voided)
	}
	return ReturnLabels{encoded: string(w.Bytes())}
}

// All returns the labels, oldest first (nil for none).
func (l ReturnLabels) All() []ReturnLabel {
	var out []ReturnLabel
	for r := streams.NewReader([]byte(l.encoded)); r.More(); {
		out = append(out, ReturnLabel{ReturnID: r.String(), Voided: r.Bool()})
	}
	return out
}

// Len is the number of labels.
func (l ReturnLabels) Len() int { return len(l.All()) }

// Find returns the label of returnID, if recorded.
func (l ReturnLabels) Find(returnID string) (ReturnLabel, bool) {
	for _, label := range l.All() {
		if label.ReturnID == returnID {
			return label, true
		}
	}
	return ReturnLabel{}, false
}

// With returns the list with label recorded: in place of the label of the same return, or
// appended.
func (l ReturnLabels) With(label ReturnLabel) ReturnLabels {
	all := l.All()
	if i := slices.IndexFunc(all, func(x ReturnLabel) bool { return x.ReturnID == label.ReturnID }); i >= 0 {
		all[i] = label
	} else {
		all = append(all, label)
	}
	return NewReturnLabels(all...)
}

// MarshalState implements streams.BinaryState. Fields added later come last, in blocks, each
// written only when it or a block after it holds something: the deadline and first-of-the-pair
// block, then the return labels. A value written before a block existed ends before it and reads
// it as zero; a block is only ever read after the blocks before it, so a value with labels always
// has the deadline block, zero or not.
func (s *State) MarshalState(w *streams.Writer) {
	w.Bool(s.Authorized)
	w.Bool(s.Reserved)
	w.Bool(s.Cancelled)
	w.String(s.ShipmentID)
	w.Varint(s.CreatedAt.UnixMilli())
	w.String(s.CausedBy)
	labels := s.Labels.All()
	if s.PlacedAt.IsZero() && !s.TimedOut && s.FirstAt.IsZero() && s.FirstID == "" && len(labels) == 0 {
		return
	}
	w.Varint(s.PlacedAt.UnixMilli())
	w.Varint(s.Deadline.UnixMilli())
	w.Bool(s.TimedOut)
	w.Varint(s.FirstAt.UnixMilli())
	w.String(s.FirstID)
	if len(labels) == 0 {
		return
	}
	w.Uvarint(uint64(len(labels)))
	for _, l := range labels {
		w.String(l.ReturnID)
		w.Bool(l.Voided)
	}
}

// UnmarshalState implements streams.BinaryState.
func (s *State) UnmarshalState(r *streams.Reader) {
	s.Authorized, s.Reserved, s.Cancelled, s.ShipmentID = r.Bool(), r.Bool(), r.Bool(), r.String()
	s.CreatedAt = time.UnixMilli(r.Varint()).UTC()
	s.CausedBy = r.String()
	if r.More() { // written since deadlines
		s.PlacedAt, s.Deadline = time.UnixMilli(r.Varint()).UTC(), time.UnixMilli(r.Varint()).UTC()
		s.TimedOut = r.Bool()
		s.FirstAt, s.FirstID = time.UnixMilli(r.Varint()).UTC(), r.String()
	}
	if r.More() { // written since return labels
		labels := make([]ReturnLabel, r.Count(2))
		for i := range labels {
			labels[i] = ReturnLabel{ReturnID: r.String(), Voided: r.Bool()}
		}
		s.Labels = NewReturnLabels(labels...)
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
// It also issues and voids the return labels of shipped orders for the returns orchestrator
// (IssueReturnLabel, VoidReturnLabel on ReturnTasks, answered on ReturnReplies).
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
	labels := labelCommands{replies: t.Out(topology.GroupShipping, t.ReturnReplies())}
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = *state
		}
		var orderID string
		var flag *bool
		switch e := ev.(type) {
		case schemas.IssueReturnLabel:
			return labels.issue(s, e, msg)
		case schemas.VoidReturnLabel:
			return labels.void(s, e, msg)
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

// labelCommands decides the returns orchestrator's label commands (IssueReturnLabel,
// VoidReturnLabel) and answers them on its reply channel, replies.
type labelCommands struct {
	replies goka.Stream
}

// answer is the reply to a label command for label: ReturnLabelVoided once the label is voided,
// ReturnLabelIssued otherwise. Its event id derives from the return and the answer alone (cause
// "label/<return id>" or "label-void/<return id>"), so every copy and retry of a command, and the
// replay of any, is answered under the same id; the causation id names the command answered.
func (l labelCommands) answer(orderID string, label ReturnLabel, command schemas.Metadata, msg streams.Message) streams.Emit {
	typ, cause := "ReturnLabelIssued", "label/"+label.ReturnID
	if label.Voided {
		typ, cause = "ReturnLabelVoided", "label-void/"+label.ReturnID
	}
	meta := streams.Meta(typ, schemas.Metadata{EventID: cause, CorrelationID: command.CorrelationID}, orderID, msg.Timestamp, "")
	commandID := command.EventID
	meta.CausationID = &commandID
	var ev schemas.Event = schemas.ReturnLabelIssued{Meta: meta, OrderID: orderID, ReturnID: label.ReturnID, LabelID: ReturnLabelID(label.ReturnID)}
	if label.Voided {
		ev = schemas.ReturnLabelVoided{Meta: meta, OrderID: orderID, ReturnID: label.ReturnID, LabelID: ReturnLabelID(label.ReturnID)}
	}
	return streams.Emit{Topic: l.replies, Key: orderID, Event: ev}
}

// checkCommand refuses a label command without its ids or under another key than its order's.
func checkCommand(typ, orderID, returnID string, msg streams.Message) error {
	if orderID == "" || returnID == "" || orderID != msg.Key {
		return streams.Rejectf("%s for order %q return %q arrived under key %q", typ, orderID, returnID, msg.Key)
	}
	return nil
}

// issue issues the return label of a shipped order, once per return: a copy (the label recorded)
// is answered again and changes nothing, a voided label is answered as voided.
func (l labelCommands) issue(s State, e schemas.IssueReturnLabel, msg streams.Message) (*State, []streams.Emit, error) {
	if err := checkCommand("IssueReturnLabel", e.OrderID, e.ReturnID, msg); err != nil {
		return nil, nil, err
	}
	if label, ok := s.Labels.Find(e.ReturnID); ok {
		return nil, []streams.Emit{l.answer(e.OrderID, label, e.Meta, msg)}, nil
	}
	if s.ShipmentID == "" {
		return nil, nil, streams.Rejectf("IssueReturnLabel %s: order %s not shipped", e.ReturnID, e.OrderID)
	}
	if s.Labels.Len() >= MaxReturnLabels {
		return nil, nil, streams.Rejectf("IssueReturnLabel %s: order %s has %d return labels already, the most it may have", e.ReturnID, e.OrderID, MaxReturnLabels)
	}
	if msg.Replay {
		return nil, nil, nil // not recorded: the input was refused, for a reason the state no longer shows
	}
	label := ReturnLabel{ReturnID: e.ReturnID}
	s.Labels = s.Labels.With(label)
	return &s, []streams.Emit{l.answer(e.OrderID, label, e.Meta, msg)}, nil
}

// void voids the return label of a return, issued or not: a label never issued is recorded as
// voided, so that an IssueReturnLabel arriving late never issues it. A copy is answered again.
func (l labelCommands) void(s State, e schemas.VoidReturnLabel, msg streams.Message) (*State, []streams.Emit, error) {
	if err := checkCommand("VoidReturnLabel", e.OrderID, e.ReturnID, msg); err != nil {
		return nil, nil, err
	}
	label, recorded := s.Labels.Find(e.ReturnID)
	if label.Voided {
		return nil, []streams.Emit{l.answer(e.OrderID, label, e.Meta, msg)}, nil
	}
	if !recorded && s.Labels.Len() >= MaxReturnLabels {
		return nil, nil, streams.Rejectf("VoidReturnLabel %s: order %s has %d return labels already, the most it may have", e.ReturnID, e.OrderID, MaxReturnLabels)
	}
	if msg.Replay {
		return nil, nil, nil // not voided: the input was refused
	}
	label = ReturnLabel{ReturnID: e.ReturnID, Voided: true}
	s.Labels = s.Labels.With(label)
	return &s, []streams.Emit{l.answer(e.OrderID, label, e.Meta, msg)}, nil
}

// Spec is what the shipping processor reads and writes.
func Spec(t topology.Topology) streams.Spec {
	return streams.Spec{Processor: topology.GroupShipping,
		Inputs:  []goka.Stream{t.PaymentEvents(), t.InventoryEvents(), t.OrderEvents(), t.TimerFirings(), t.ReturnTasks()},
		Outputs: []goka.Stream{t.ShippingEvents(), t.DeadlineEvents(), t.ReturnReplies()}}
}

// Accepts lists the event types the shipping processor acts on; the others on its inputs are
// passed over undecoded.
var Accepts = []schemas.Event{schemas.PaymentAuthorized{}, schemas.StockReserved{},
	schemas.PaymentDeclined{}, schemas.StockRejected{}, schemas.StockReleased{}, schemas.OrderPlaced{}, schemas.TimerFired{},
	schemas.IssueReturnLabel{}, schemas.VoidReturnLabel{}}

// TableCodec is the codec of the shipping table.
func TableCodec() goka.Codec { return streams.StateCodec[State, *State]{} }

// Group defines the shipping processor, with the Deadline of the environment.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupShipping, Decide(t, Deadline()), Accepts...)
	return streams.Define(t, Spec(t), TableCodec(), cb)
}

// PendingDeadline reads a shipping table value for the timers scheduler.
var PendingDeadline = streams.PendingDeadlines(TableCodec(), State.PendingDeadline)
