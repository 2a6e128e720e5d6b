package payments

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

// overflowing is the order of issue 11: 18 lines of 10^6 × 10^12, each within bounds, whose
// total wraps int64 (the claimed total is the wrapped sum, as a naive producer computes it).
func overflowing(orderID string) schemas.OrderPlaced {
	o := proctest.Order(orderID, "c-1")
	for range 18 {
		o.Lines = append(o.Lines, schemas.OrderLine{SKU: "SKU-1", Quantity: schemas.MaxQuantity, UnitPriceMinor: schemas.MaxUnitPriceMinor})
		o.TotalMinor += int64(schemas.MaxQuantity) * schemas.MaxUnitPriceMinor
	}
	return o
}

// An overflowing order is rejected, whatever total it claims, and never authorized.
func TestOverflowingOrderIsRejected(t *testing.T) {
	decide := Decide(proctest.Topology)
	for _, total := range []int64{overflowing("o-1").TotalMinor, 100, schemas.MaxTotalMinor} {
		o := overflowing("o-1")
		o.TotalMinor = total
		s, emits, err := decide(nil, o, msg)
		if !errors.Is(err, streams.ErrRejected) || !strings.Contains(err.Error(), "overflow") || s != nil || len(emits) != 0 {
			t.Errorf("total %d: state %+v, emits %v, err %v; want rejected for an overflow", total, s, types(emits), err)
		}
	}
}

// Through the wiring, the overflowing order goes to the poison handler with kind "rejected" (the
// dead-letter kind) and the next order is decided as usual.
func TestOverflowingOrderIsDeadLettered(t *testing.T) {
	type poisoned struct{ key, kind, msg string }
	var got []poisoned
	record := func(ctx goka.Context, _ []byte, kind string, err error) {
		got = append(got, poisoned{ctx.Key(), kind, err.Error()})
	}
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Poison: record}))
	out := h.Track(proctest.Topology.PaymentEvents())
	h.Feed(proctest.Topology.OrderEvents(), "o-big", overflowing("o-big"))
	h.Feed(proctest.Topology.OrderEvents(), "o-2", proctest.Order("o-2", "c-2", "SKU-1", 1))
	if emitted := proctest.Types(out.All()); fmt.Sprint(emitted) != "[PaymentAuthorized]" {
		t.Fatalf("emitted %v, want only o-2's PaymentAuthorized", emitted)
	}
	if len(got) != 1 || got[0].key != "o-big" || got[0].kind != "rejected" || !strings.Contains(got[0].msg, "overflow") {
		t.Fatalf("poisoned %+v, want o-big with kind rejected and an overflow message", got)
	}
}
