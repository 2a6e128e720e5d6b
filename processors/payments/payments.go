package payments

import (
	"slices"
	"strings"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/pipelines/streams"
	"github.com/orderflow/orderflow/pipelines/topology"
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

// State is the payments table value for one order.
type State struct {
	Status        string   `json:"status,omitempty"`
	AmountMinor   int64    `json:"amount_minor,omitempty"`
	Currency      string   `json:"currency,omitempty"`
	StockRejected bool     `json:"stock_rejected,omitempty"`
	Applied       []string `json:"applied,omitempty"`
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
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = *state
			s.Applied = slices.Clone(state.Applied)
		}
		id := ev.Metadata().EventID
		if slices.Contains(s.Applied, id) {
			return nil, nil, nil // redelivered: already applied
		}
		var emits []streams.Emit
		switch e := ev.(type) {
		case schemas.OrderPlaced:
			if err := e.Validate(); err != nil {
				return nil, nil, streams.Rejectf("%v", err)
			}
			if s.Status != "" {
				break // already decided for this order
			}
			s.AmountMinor, s.Currency = e.TotalMinor, e.Currency
			if s.StockRejected {
				s.Status = NotCharged
				break
			}
			ok, reason := Decision(e)
			if ok {
				s.Status = Authorized
				emits = append(emits, streams.Emit{Topic: t.PaymentEvents(), Key: e.OrderID, Event: schemas.PaymentAuthorized{
					Meta:    streams.Meta("PaymentAuthorized", e.Meta, e.OrderID, msg.Timestamp, ""),
					OrderID: e.OrderID, AmountMinor: e.TotalMinor, Currency: e.Currency,
				}})
			} else {
				s.Status = Declined
				emits = append(emits, streams.Emit{Topic: t.PaymentEvents(), Key: e.OrderID, Event: schemas.PaymentDeclined{
					Meta:    streams.Meta("PaymentDeclined", e.Meta, e.OrderID, msg.Timestamp, ""),
					OrderID: e.OrderID, AmountMinor: e.TotalMinor, Currency: e.Currency, Reason: reason,
					Detail: declineDetail(reason),
				}})
			}
		case schemas.StockRejected:
			s.StockRejected = true
			if s.Status == Authorized {
				s.Status = Refunded
				emits = append(emits, streams.Emit{Topic: t.PaymentEvents(), Key: e.OrderID, Event: schemas.PaymentRefunded{
					Meta:    streams.Meta("PaymentRefunded", e.Meta, e.OrderID, msg.Timestamp, ""),
					OrderID: e.OrderID, AmountMinor: s.AmountMinor, Currency: s.Currency, Reason: string(schemas.CancelOutOfStock),
				}})
			}
		default:
			return nil, nil, nil // other events on our inputs do not concern payments
		}
		s.Applied = append(s.Applied, id)
		return &s, emits, nil
	}
}

func declineDetail(r schemas.DeclineReason) string {
	if r == schemas.DeclineAmountOverLimit {
		return "order total exceeds 500000 minor units"
	}
	return "customer is not allowed to pay"
}

// Group defines the payments processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupPayments, Decide(t))
	return streams.DefineGroup(t.Group(topology.GroupPayments), streams.JSONCodec[streams.Envelope[State]]{}, cb,
		[]goka.Stream{t.OrderEvents(), t.InventoryEvents()},
		t.PaymentEvents())
}
