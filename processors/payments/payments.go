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

// State is the payments table value for one order. Every field is set once per order, so the
// value never grows; an input is recognised as applied from the fields it set.
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
}

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

// MarshalState implements streams.BinaryState. CancelReason, added for OrderTimedOut, comes last
// and only when set: a value without it is the earlier layout, which any release reads.
func (s *State) MarshalState(w *streams.Writer) {
	w.String(s.Status)
	w.Varint(s.AmountMinor)
	w.String(s.Currency)
	w.Bool(s.StockRejected)
	if s.CancelReason != "" {
		w.String(string(s.CancelReason))
	}
}

// UnmarshalState implements streams.BinaryState; a value of the earlier layout reads with
// CancelReason empty.
func (s *State) UnmarshalState(r *streams.Reader) {
	s.Status, s.AmountMinor, s.Currency, s.StockRejected = r.String(), r.Varint(), r.String(), r.Bool()
	if r.More() { // written since OrderTimedOut
		s.CancelReason = schemas.CancelReason(r.String())
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
	// refunded is the compensation of an authorized payment; cause is the cancellation
	// (StockRejected or OrderTimedOut), whose event id the refund's derives from.
	refunded := func(s State, orderID string, cause schemas.Event, msg streams.Message) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupPayments, t.PaymentEvents()), Key: orderID, Event: schemas.PaymentRefunded{
			Meta:    streams.Meta("PaymentRefunded", cause.Metadata(), orderID, msg.Timestamp, ""),
			OrderID: orderID, AmountMinor: s.AmountMinor, Currency: s.Currency, Reason: string(s.cancelReason()),
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
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = *state
		}
		switch e := ev.(type) {
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

func declineDetail(r schemas.DeclineReason) string {
	if r == schemas.DeclineAmountOverLimit {
		return "order total exceeds 500000 minor units"
	}
	return "customer is not allowed to pay"
}

// Spec is what the payments processor reads and writes.
func Spec(t topology.Topology) streams.Spec {
	return streams.Spec{Processor: topology.GroupPayments,
		Inputs:  []goka.Stream{t.OrderEvents(), t.InventoryEvents(), t.DeadlineEvents()},
		Outputs: []goka.Stream{t.PaymentEvents()}}
}

// Accepts lists the event types the payments processor acts on; the others on its inputs are
// passed over undecoded.
var Accepts = []schemas.Event{schemas.OrderPlaced{}, schemas.StockRejected{}, schemas.OrderTimedOut{}}

// Group defines the payments processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupPayments, Decide(t), Accepts...)
	return streams.Define(t, Spec(t), streams.StateCodec[State, *State]{}, cb)
}
