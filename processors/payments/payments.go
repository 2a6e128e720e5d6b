package payments

import (
	"strings"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
)

// LimitMinor is the largest order total (minor units) that is authorized.
const LimitMinor = 500000

// DenyPrefix marks customers whose payments are always declined.
const DenyPrefix = "deny-"

// Payment states.
const (
	Authorized = "AUTHORIZED"
	Declined   = "DECLINED"
	Refunded   = "REFUNDED"
	NotCharged = "NOT_CHARGED" // the order was cancelled (stock rejected, timed out) before it reached payments
)

// State is the payments table value for one order. Every field but ReturnRefunds is set once per
// order, and ReturnRefunds grows by one per return, to at most MaxReturnRefunds, so the value
// stays small; an input is recognised as applied from the fields it set.
type State struct {
	Status        string `json:"status,omitempty"`
	AmountMinor   int64  `json:"amount_minor,omitempty"`
	Currency      string `json:"currency,omitempty"`
	StockRejected bool   `json:"stock_rejected,omitempty"`
	// CancelReason is the first cancellation of the order payments saw: OUT_OF_STOCK (a
	// StockRejected) or TIMEOUT (an OrderTimedOut). A refund is that cancellation's
	// compensation and carries it as its reason. Values written before it existed leave it
	// empty; their only cancellation was a stock rejection (see cancelReason).
	CancelReason schemas.CancelReason `json:"cancel_reason,omitempty"`
	// ReturnRefunds are the refunds of the order's returns (RefundReturn). They are partial: the
	// payment stays AUTHORIZED, and a later cancellation refunds only what they left.
	ReturnRefunds ReturnRefunds `json:"-"`
}

// MaxReturnRefunds bounds the refunded returns of one order (the table value's size), as the
// returns orchestrator bounds an order's returns; a RefundReturn for a further return is refused.
const MaxReturnRefunds = 20

// ReturnRefund is the refund of one return of an order: the amount refunded, in the payment's
// currency (possibly less than asked: never more than the payment left).
type ReturnRefund struct {
	ReturnID    string
	AmountMinor int64
}

// ReturnRefunds is an order's return refunds in the order they were made. It holds the list
// encoded in a string (each refund as MarshalState writes it), so that State stays a comparable value: two
// states are == exactly when they record the same facts.
type ReturnRefunds struct{ encoded string }

// NewReturnRefunds returns the list of refunds.
func NewReturnRefunds(refunds ...ReturnRefund) ReturnRefunds {
	w := &streams.Writer{}
	for _, r := range refunds {
		w.String(r.ReturnID)
		w.Varint(r.AmountMinor)
	}
	return ReturnRefunds{encoded: string(w.Bytes())}
}

// All returns the refunds, oldest first (nil for none).
func (l ReturnRefunds) All() []ReturnRefund {
	var out []ReturnRefund
	for r := streams.NewReader([]byte(l.encoded)); r.More(); {
		out = append(out, ReturnRefund{ReturnID: r.String(), AmountMinor: r.Varint()})
	}
	return out
}

// Find returns the refund of returnID, if made.
func (l ReturnRefunds) Find(returnID string) (ReturnRefund, bool) {
	for _, r := range l.All() {
		if r.ReturnID == returnID {
			return r, true
		}
	}
	return ReturnRefund{}, false
}

// TotalMinor is the sum of the refunds.
func (l ReturnRefunds) TotalMinor() int64 {
	var n int64
	for _, r := range l.All() {
		n += r.AmountMinor
	}
	return n
}

// With returns the list with refund appended.
func (l ReturnRefunds) With(refund ReturnRefund) ReturnRefunds {
	return NewReturnRefunds(append(l.All(), refund)...)
}

// unrefundedMinor is what the payment has left to refund after its returns' refunds.
func (s State) unrefundedMinor() int64 { return max(s.AmountMinor-s.ReturnRefunds.TotalMinor(), 0) }

// cancelled reports whether a cancellation of the order has been applied: the order is never
// charged, or refunded once.
func (s State) cancelled() bool { return s.StockRejected || s.CancelReason != "" }

// cancelReason is CancelReason, reading an empty one as OUT_OF_STOCK (the only cancellation
// payments knew when it was not recorded).
func (s State) cancelReason() schemas.CancelReason {
	if s.CancelReason == "" && s.StockRejected {
		return schemas.CancelOutOfStock
	}
	return s.CancelReason
}

// refundedFor reports whether the order's payment was refunded as the compensation of reason
// (the refund an input of that cancellation sends again when replayed).
func (s State) refundedFor(reason schemas.CancelReason) bool {
	return s.Status == Refunded && s.cancelReason() == reason
}

// MarshalState implements streams.BinaryState. Fields added later come last, each written only
// when it or a field after it is set: CancelReason (added for OrderTimedOut), then the return
// refunds. A value without them is the earlier layout, which any release reads; a value with
// return refunds always has CancelReason before them, empty or not.
func (s *State) MarshalState(w *streams.Writer) {
	w.String(s.Status)
	w.Varint(s.AmountMinor)
	w.String(s.Currency)
	w.Bool(s.StockRejected)
	refunds := s.ReturnRefunds.All()
	if s.CancelReason == "" && len(refunds) == 0 {
		return
	}
	w.String(string(s.CancelReason))
	if len(refunds) == 0 {
		return
	}
	w.Uvarint(uint64(len(refunds)))
	for _, r := range refunds {
		w.String(r.ReturnID)
		w.Varint(r.AmountMinor)
	}
}

// UnmarshalState implements streams.BinaryState; a value of an earlier layout reads with the
// fields it lacks empty.
func (s *State) UnmarshalState(r *streams.Reader) {
	s.Status, s.AmountMinor, s.Currency, s.StockRejected = r.String(), r.Varint(), r.String(), r.Bool()
	if r.More() { // written since OrderTimedOut
		s.CancelReason = schemas.CancelReason(r.String())
	}
	if r.More() { // written since return refunds
		refunds := make([]ReturnRefund, r.Count(2))
		for i := range refunds {
			refunds[i] = ReturnRefund{ReturnID: r.String(), AmountMinor: r.Varint()}
		}
		s.ReturnRefunds = NewReturnRefunds(refunds...)
	}
}

// Decision returns whether an order is authorized and, if not, why.
func Decision(o schemas.OrderPlaced) (authorized bool, reason schemas.DeclineReason) {
	switch {
	case strings.HasPrefix(o.CustomerID, DenyPrefix):
		return false, schemas.DeclineCustomerDenied
	case o.TotalMinor > LimitMinor:
		return false, schemas.DeclineAmountOverLimit
	}
	return true, ""
}

// Decide is the payment service's pure decision function.
func Decide(t topology.Topology) streams.Decider[State] {
	authorized := func(e schemas.OrderPlaced, msg streams.Message) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupPayments, t.PaymentEvents()), Key: e.OrderID, Event: schemas.PaymentAuthorized{
			Meta:    streams.Meta("PaymentAuthorized", e.Meta, e.OrderID, msg.Timestamp, ""),
			OrderID: e.OrderID, AmountMinor: e.TotalMinor, Currency: e.Currency,
		}}
	}
	declined := func(e schemas.OrderPlaced, reason schemas.DeclineReason, msg streams.Message) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupPayments, t.PaymentEvents()), Key: e.OrderID, Event: schemas.PaymentDeclined{
			Meta:    streams.Meta("PaymentDeclined", e.Meta, e.OrderID, msg.Timestamp, ""),
			OrderID: e.OrderID, AmountMinor: e.TotalMinor, Currency: e.Currency, Reason: reason,
			Detail: declineDetail(reason),
		}}
	}
	// refunded is the compensation of an authorized payment: what its returns' refunds left of
	// it (all of it without returns); cause is the cancellation (StockRejected or OrderTimedOut),
	// whose event id the refund's derives from.
	refunded := func(s State, orderID string, cause schemas.Event, msg streams.Message) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupPayments, t.PaymentEvents()), Key: orderID, Event: schemas.PaymentRefunded{
			Meta:    streams.Meta("PaymentRefunded", cause.Metadata(), orderID, msg.Timestamp, ""),
			OrderID: orderID, AmountMinor: s.unrefundedMinor(), Currency: s.Currency, Reason: string(s.cancelReason()),
		}}
	}
	// cancel applies a cancellation for reason to s and returns the refund it causes: the first
	// cancellation of an order decides (an authorized payment is refunded; an order not yet seen
	// will not be charged), a later one finds it refunded or never charged and changes nothing.
	cancel := func(s *State, reason schemas.CancelReason, orderID string, cause schemas.Event, msg streams.Message) []streams.Emit {
		if s.cancelled() {
			return nil
		}
		s.CancelReason = reason
		if s.Status != Authorized {
			return nil
		}
		s.Status = Refunded
		return []streams.Emit{refunded(*s, orderID, cause, msg)}
	}
	// resend is what a cancellation for reason replayed after a crash sends again: the refund,
	// when it is the cancellation that caused it.
	resend := func(s State, reason schemas.CancelReason, orderID string, cause schemas.Event, msg streams.Message) []streams.Emit {
		if s.refundedFor(reason) {
			return []streams.Emit{refunded(s, orderID, cause, msg)}
		}
		return nil
	}
	returnRefunds := returnRefundCommands{replies: t.Out(topology.GroupPayments, t.ReturnReplies())}
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = *state
		}
		switch e := ev.(type) {
		case schemas.RefundReturn:
			return returnRefunds.refund(s, e, msg)
		case schemas.OrderPlaced:
			if err := e.Validate(); err != nil {
				return nil, nil, streams.Rejectf("%v", err)
			}
			if msg.Replay { // the decision this order got, sent again
				switch s.Status {
				case Authorized, Refunded:
					return nil, []streams.Emit{authorized(e, msg)}, nil
				case Declined:
					_, reason := Decision(e)
					return nil, []streams.Emit{declined(e, reason, msg)}, nil
				}
				return nil, nil, nil
			}
			if s.Status != "" {
				return nil, nil, nil // redelivered: already decided for this order
			}
			s.AmountMinor, s.Currency = e.TotalMinor, e.Currency
			if s.cancelled() {
				s.Status = NotCharged
				return &s, nil, nil
			}
			if ok, reason := Decision(e); ok {
				s.Status = Authorized
				return &s, []streams.Emit{authorized(e, msg)}, nil
			} else {
				s.Status = Declined
				return &s, []streams.Emit{declined(e, reason, msg)}, nil
			}
		case schemas.StockRejected:
			if msg.Replay {
				return nil, resend(s, schemas.CancelOutOfStock, e.OrderID, e, msg), nil
			}
			if s.StockRejected {
				return nil, nil, nil // redelivered
			}
			emits := cancel(&s, schemas.CancelOutOfStock, e.OrderID, e, msg)
			s.StockRejected = true // recorded even after an earlier cancellation: it is a fact of the order's stock
			return &s, emits, nil
		case schemas.OrderTimedOut:
			if msg.Replay {
				return nil, resend(s, schemas.CancelTimeout, e.OrderID, e, msg), nil
			}
			if s.cancelled() {
				return nil, nil, nil // redelivered, or cancelled already (stock rejected)
			}
			return &s, cancel(&s, schemas.CancelTimeout, e.OrderID, e, msg), nil
		}
		return nil, nil, nil // other events on our inputs do not concern payments
	}
}

// returnRefundCommands decides the returns orchestrator's RefundReturn and answers it on its
// reply channel, replies.
type returnRefundCommands struct {
	replies goka.Stream
}

// answer is the ReturnRefunded of refund. Its event id derives from the return alone (cause
// "refund/<return id>"), so every copy and retry of the command, and the replay of any, is
// answered under the same id; the causation id names the command answered.
func (c returnRefundCommands) answer(s State, orderID string, refund ReturnRefund, command schemas.Metadata, msg streams.Message) streams.Emit {
	meta := streams.Meta("ReturnRefunded", schemas.Metadata{EventID: "refund/" + refund.ReturnID, CorrelationID: command.CorrelationID},
		orderID, msg.Timestamp, "")
	commandID := command.EventID
	meta.CausationID = &commandID
	return streams.Emit{Topic: c.replies, Key: orderID, Event: schemas.ReturnRefunded{
		Meta: meta, OrderID: orderID, ReturnID: refund.ReturnID, AmountMinor: refund.AmountMinor, Currency: s.Currency,
	}}
}

// refund refunds a return of an authorized payment, once per return: what it asks, or what the
// payment has left when that is less. A copy (the refund recorded) is answered again with the
// amount refunded and refunds nothing more. The payment stays AUTHORIZED.
func (c returnRefundCommands) refund(s State, e schemas.RefundReturn, msg streams.Message) (*State, []streams.Emit, error) {
	if e.OrderID == "" || e.ReturnID == "" || e.OrderID != msg.Key {
		return nil, nil, streams.Rejectf("RefundReturn for order %q return %q arrived under key %q", e.OrderID, e.ReturnID, msg.Key)
	}
	if e.AmountMinor <= 0 {
		return nil, nil, streams.Rejectf("RefundReturn %s of order %s: amount %d ≤ 0", e.ReturnID, e.OrderID, e.AmountMinor)
	}
	if refund, ok := s.ReturnRefunds.Find(e.ReturnID); ok {
		return nil, []streams.Emit{c.answer(s, e.OrderID, refund, e.Meta, msg)}, nil
	}
	switch {
	case s.Status == "":
		return nil, nil, streams.Rejectf("RefundReturn %s: order %s has no payment", e.ReturnID, e.OrderID)
	case s.Status != Authorized:
		return nil, nil, streams.Rejectf("RefundReturn %s: the payment of order %s is %s, not %s", e.ReturnID, e.OrderID, s.Status, Authorized)
	case e.Currency != s.Currency:
		return nil, nil, streams.Rejectf("RefundReturn %s: currency %q, but order %s was paid in %q", e.ReturnID, e.Currency, e.OrderID, s.Currency)
	case len(s.ReturnRefunds.All()) >= MaxReturnRefunds:
		return nil, nil, streams.Rejectf("RefundReturn %s: order %s has %d refunded returns already, the most it may have", e.ReturnID, e.OrderID, MaxReturnRefunds)
	}
	if msg.Replay {
		return nil, nil, nil // not recorded: the input was refused, for a reason the state no longer shows
	}
	refund := ReturnRefund{ReturnID: e.ReturnID, AmountMinor: min(e.AmountMinor, s.unrefundedMinor())}
	s.ReturnRefunds = s.ReturnRefunds.With(refund)
	return &s, []streams.Emit{c.answer(s, e.OrderID, refund, e.Meta, msg)}, nil
}

func declineDetail(r schemas.DeclineReason) string {
	if r == schemas.DeclineAmountOverLimit {
		return "order total exceeds 500000 minor units"
	}
	return "customer is not allowed to pay"
}

// Spec is what the payments processor reads and writes.
func Spec(t topology.Topology) streams.Spec {
	return streams.Spec{Processor: topology.GroupPayments,
		Inputs:  []goka.Stream{t.OrderEvents(), t.InventoryEvents(), t.DeadlineEvents(), t.ReturnTasks()},
		Outputs: []goka.Stream{t.PaymentEvents(), t.ReturnReplies()}}
}

// Accepts lists the event types the payments processor acts on; the others on its inputs are
// passed over undecoded.
var Accepts = []schemas.Event{schemas.OrderPlaced{}, schemas.StockRejected{}, schemas.OrderTimedOut{}, schemas.RefundReturn{}}

// Group defines the payments processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupPayments, Decide(t), Accepts...)
	return streams.Define(t, Spec(t), streams.StateCodec[State, *State]{}, cb)
}
