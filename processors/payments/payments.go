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
	NotCharged = "NOT_CHARGED" // stock was rejected before the order reached payments
)

// State is the payments table value for one order. Every field is set once per order, so the
// value never grows; an input is recognised as applied from the fields it set.
type State struct {
	Status        string `json:"status,omitempty"`
	AmountMinor   int64  `json:"amount_minor,omitempty"`
	Currency      string `json:"currency,omitempty"`
	StockRejected bool   `json:"stock_rejected,omitempty"`
}

// MarshalState implements streams.BinaryState.
func (s *State) MarshalState(w *streams.Writer) {
	w.String(s.Status)
	w.Varint(s.AmountMinor)
	w.String(s.Currency)
	w.Bool(s.StockRejected)
}

// UnmarshalState implements streams.BinaryState.
func (s *State) UnmarshalState(r *streams.Reader) {
	s.Status, s.AmountMinor, s.Currency, s.StockRejected = r.String(), r.Varint(), r.String(), r.Bool()
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
	refunded := func(s State, e schemas.StockRejected, msg streams.Message) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupPayments, t.PaymentEvents()), Key: e.OrderID, Event: schemas.PaymentRefunded{
			Meta:    streams.Meta("PaymentRefunded", e.Meta, e.OrderID, msg.Timestamp, ""),
			OrderID: e.OrderID, AmountMinor: s.AmountMinor, Currency: s.Currency, Reason: string(schemas.CancelOutOfStock),
		}}
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
			if s.StockRejected {
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
				if s.Status == Refunded {
					return nil, []streams.Emit{refunded(s, e, msg)}, nil
				}
				return nil, nil, nil
			}
			if s.StockRejected {
				return nil, nil, nil // redelivered
			}
			s.StockRejected = true
			if s.Status == Authorized {
				s.Status = Refunded
				return &s, []streams.Emit{refunded(s, e, msg)}, nil
			}
			return &s, nil, nil
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
		Inputs:  []goka.Stream{t.OrderEvents(), t.InventoryEvents()},
		Outputs: []goka.Stream{t.PaymentEvents()}}
}

// Group defines the payments processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupPayments, Decide(t), schemas.OrderPlaced{}, schemas.StockRejected{})
	return streams.Define(t, Spec(t), streams.StateCodec[State, *State]{}, cb)
}
