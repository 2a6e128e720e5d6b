package returns

import (
	"slices"
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

// Statuses of a return. COMPLETED, REJECTED and EXPIRED are terminal.
const (
	Requested   = "REQUESTED"    // waiting for shipping's return label
	LabelIssued = "LABEL_ISSUED" // waiting for the parcel, until the return window ends
	Received    = "RECEIVED"     // history only: the parcel arrived (inspection follows at once)
	Inspected   = "INSPECTED"    // accepted at inspection: waiting for payments' refund
	Refunded    = "REFUNDED"     // waiting for the ledger's restock of every line
	Restocked   = "RESTOCKED"    // history only: every line is back on hand
	Completed   = "COMPLETED"
	Rejected    = "REJECTED"     // damaged at inspection (no refund, no restock), or an invalid request
	Expired     = "EXPIRED"      // not received within the return window; the label is voided
	LabelVoided = "LABEL_VOIDED" // history only: the compensation of an expiry is done
)

// MaxReturnsPerOrder bounds the returns of one order (the table value's size): the API refuses
// more, and the orchestrator dead-letters a request beyond it.
const MaxReturnsPerOrder = 20

// Step is one entry of a return's history.
type Step struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	Note   string    `json:"note,omitempty"`
}

// Return is one return of an order, as the orchestrator keeps it.
type Return struct {
	ID        string                  `json:"return_id"`
	Lines     []schemas.ReturnLine    `json:"lines"`
	Currency  string                  `json:"currency"`
	Reason    string                  `json:"reason,omitempty"`
	Status    string                  `json:"status"`
	Condition schemas.ReturnCondition `json:"condition,omitempty"`
	History   []Step                  `json:"history"`
	LabelID   string                  `json:"label_id,omitempty"`
	// RefundMinor is what payments refunded.
	RefundMinor int64 `json:"refund_minor,omitempty"`
	// RestockedSKUs are the lines the ledger put back on hand.
	RestockedSKUs []string `json:"restocked_skus,omitempty"`
	LabelVoided   bool     `json:"label_voided,omitempty"`
	// Attempt counts the sendings of the current step's command (0: the step sends none).
	Attempt int32 `json:"attempt,omitempty"`
	// Due is the return's next deadline: a retry of the current step's command, or the end of
	// the return window while LABEL_ISSUED (then equal to WindowEnds); zero for none.
	Due        time.Time `json:"due,omitzero"`
	WindowEnds time.Time `json:"window_ends,omitzero"`
}

// Terminal reports whether the return's status can no longer change (an expired return may
// still record its label's void).
func (r Return) Terminal() bool {
	return r.Status == Completed || r.Status == Rejected || r.Status == Expired
}

// Counts reports whether the return's units count as returned: every return but an expired one
// (whose parcel never came) and one refused as invalid (whose units were never accepted).
func (r Return) Counts() bool {
	return r.Status != Expired && !(r.Status == Rejected && r.Condition == "")
}

// State is the returns orchestrator's table value for one order: its returns, in request order.
// Its size is bounded by MaxReturnsPerOrder.
type State struct {
	Returns []Return `json:"returns"`
}

// Find returns the index of the return with id, or -1.
func (s State) Find(id string) int {
	return slices.IndexFunc(s.Returns, func(r Return) bool { return r.ID == id })
}

// Returned is the number of units of sku already returned (or on their way back) by returns that
// count (Return.Counts).
func (s State) Returned(sku string) int64 {
	var n int64
	for _, r := range s.Returns {
		if !r.Counts() {
			continue
		}
		for _, l := range r.Lines {
			if l.SKU == sku {
				n += int64(l.Quantity)
			}
		}
	}
	return n
}

// PendingDeadline is the earliest deadline of the order's returns, for the timers scheduler.
func (s State) PendingDeadline() (time.Time, bool) {
	var next time.Time
	for _, r := range s.Returns {
		if !r.Due.IsZero() && (next.IsZero() || r.Due.Before(next)) {
			next = r.Due
		}
	}
	return next, !next.IsZero()
}

// MarshalState implements streams.BinaryState.
func (s *State) MarshalState(w *streams.Writer) {
	w.Uvarint(uint64(len(s.Returns)))
	for _, r := range s.Returns {
		w.String(r.ID)
		w.Uvarint(uint64(len(r.Lines)))
		for _, l := range r.Lines {
			w.String(l.SKU)
			w.Varint(int64(l.Quantity))
			w.Varint(l.UnitPriceMinor)
		}
		w.String(r.Currency)
		w.String(r.Reason)
		w.String(r.Status)
		w.String(string(r.Condition))
		w.Uvarint(uint64(len(r.History)))
		for _, h := range r.History {
			w.String(h.Status)
			w.Varint(h.At.UnixMilli())
			w.String(h.Note)
		}
		w.String(r.LabelID)
		w.Varint(r.RefundMinor)
		w.Uvarint(uint64(len(r.RestockedSKUs)))
		for _, sku := range r.RestockedSKUs {
			w.String(sku)
		}
		w.Bool(r.LabelVoided)
		w.Varint(int64(r.Attempt))
		w.Varint(millis(r.Due))
		w.Varint(millis(r.WindowEnds))
	}
}

// UnmarshalState implements streams.BinaryState.
func (s *State) UnmarshalState(r *streams.Reader) {
	n := r.Count(8)
	if n == 0 {
		return
	}
	s.Returns = make([]Return, n)
	for i := range s.Returns {
		ret := &s.Returns[i]
		ret.ID = r.String()
		if k := r.Count(3); k > 0 {
			ret.Lines = make([]schemas.ReturnLine, k)
			for j := range ret.Lines {
				ret.Lines[j] = schemas.ReturnLine{SKU: r.String(), Quantity: r.Int32(), UnitPriceMinor: r.Varint()}
			}
		}
		ret.Currency, ret.Reason, ret.Status, ret.Condition = r.String(), r.String(), r.String(), schemas.ReturnCondition(r.String())
		if k := r.Count(3); k > 0 {
			ret.History = make([]Step, k)
			for j := range ret.History {
				ret.History[j] = Step{Status: r.String(), At: time.UnixMilli(r.Varint()).UTC(), Note: r.String()}
			}
		}
		ret.LabelID, ret.RefundMinor = r.String(), r.Varint()
		if k := r.Count(1); k > 0 {
			ret.RestockedSKUs = make([]string, k)
			for j := range ret.RestockedSKUs {
				ret.RestockedSKUs[j] = r.String()
			}
		}
		ret.LabelVoided, ret.Attempt = r.Bool(), r.Int32()
		ret.Due, ret.WindowEnds = fromMillis(r.Varint()), fromMillis(r.Varint())
	}
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

// TableCodec is the codec of the returns table (the returns view reads it too).
func TableCodec() goka.Codec { return streams.StateCodec[State, *State]{} }

// WaitingFor says what the return waits for next, for people: the "where did it stall" of an
// orchestrated flow; "" for a return that waits for nothing.
func WaitingFor(r Return) string {
	switch r.Status {
	case Requested:
		return "shipping: the return label"
	case LabelIssued:
		return "warehouse: the parcel (POST /returns/" + r.ID + "/received) before " + r.WindowEnds.Format(time.RFC3339)
	case Inspected:
		return "payments: the refund"
	case Refunded:
		var left []string
		for _, l := range r.Lines {
			if !slices.Contains(r.RestockedSKUs, l.SKU) {
				left = append(left, l.SKU)
			}
		}
		return "inventory: the restock of " + strings.Join(left, ", ")
	case Expired:
		if !r.LabelVoided {
			return "shipping: the void of the return label"
		}
	}
	return ""
}
