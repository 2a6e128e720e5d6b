package views

import (
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/processors/inventory"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/schemas"
)

var t0 = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

func reasonPtr(r schemas.CancelReason) *schemas.CancelReason { return &r }

// order is an order whose last change was minutes after t0.
func order(id string, st schemas.Status, minutes int, reason *schemas.CancelReason) schemas.OrderStatus {
	return schemas.OrderStatus{OrderID: id, Status: st, Reason: reason, CustomerID: "c-1", TotalMinor: 100, Currency: "EUR",
		History: []schemas.StatusEntry{{Status: schemas.StatusPlaced, At: t0}, {Status: st, At: t0.Add(time.Duration(minutes) * time.Minute)}}}
}

// The summary counts every status and every outcome (a cancellation by its reason) and keeps the
// orders changed last, newest first.
func TestSummarizerCountsStatusesAndOutcomes(t *testing.T) {
	z := newSummarizer(3)
	for _, s := range []schemas.OrderStatus{
		order("o-1", schemas.StatusPlaced, 1, nil),
		order("o-2", schemas.StatusShipped, 9, nil),
		order("o-3", schemas.StatusCancelled, 5, reasonPtr(schemas.CancelPaymentDeclined)),
		order("o-4", schemas.StatusCancelled, 7, reasonPtr(schemas.CancelTimeout)),
		order("o-5", schemas.StatusCancelled, 2, nil),
		order("o-6", schemas.StatusShipped, 3, nil),
		order("o-7", schemas.StatusPaymentAuthorized, 8, nil),
	} {
		z.add(s)
	}
	sum := z.result()
	if sum.Total != 7 {
		t.Errorf("total %d, want 7", sum.Total)
	}
	wantStatuses := map[schemas.Status]int{schemas.StatusPlaced: 1, schemas.StatusShipped: 2, schemas.StatusCancelled: 3, schemas.StatusPaymentAuthorized: 1}
	for st, n := range wantStatuses {
		if sum.Statuses[st] != n {
			t.Errorf("%s: %d, want %d", st, sum.Statuses[st], n)
		}
	}
	wantOutcomes := map[string]int{"SHIPPED": 2, "CANCELLED/PAYMENT_DECLINED": 1, "CANCELLED/TIMEOUT": 1, "CANCELLED/UNKNOWN": 1}
	if len(sum.Outcomes) != len(wantOutcomes) {
		t.Errorf("outcomes %v, want %v", sum.Outcomes, wantOutcomes)
	}
	for o, n := range wantOutcomes {
		if sum.Outcomes[o] != n {
			t.Errorf("outcome %s: %d, want %d", o, sum.Outcomes[o], n)
		}
	}
	var recent []string
	for _, s := range sum.Recent {
		recent = append(recent, s.OrderID)
	}
	if want := []string{"o-2", "o-7", "o-4"}; !slices.Equal(recent, want) {
		t.Errorf("recent %v, want %v", recent, want)
	}
}

func TestTopKKeepsTheFirstK(t *testing.T) {
	top := newTopK(3, func(a, b int) bool { return a < b })
	for _, x := range []int{9, 4, 7, 1, 8, 3, 3, 10} {
		top.offer(x)
	}
	if got := top.sorted(); !slices.Equal(got, []int{1, 3, 3}) {
		t.Errorf("top 3 %v, want [1 3 3]", got)
	}
	none := newTopK(0, func(a, b int) bool { return a < b })
	none.offer(1)
	if got := none.sorted(); len(got) != 0 {
		t.Errorf("top 0 %v, want empty", got)
	}
}

// Summary, ListReturns and ListStock read the views' tables (in goka's tester).
func TestListsReadTheViews(t *testing.T) {
	v, tt, tb := viewsInTester(t)
	tt.Consume(string(tb.status), "o-1", order("o-1", schemas.StatusShipped, 4, nil))
	tt.Consume(string(tb.status), "o-2", order("o-2", schemas.StatusPlaced, 6, nil))
	tt.Consume(string(tb.status), "o-3", order("o-3", schemas.StatusCancelled, 1, reasonPtr(schemas.CancelOutOfStock)))

	sum, err := v.Summary(2)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 3 || sum.Statuses[schemas.StatusShipped] != 1 || sum.Outcomes["CANCELLED/OUT_OF_STOCK"] != 1 {
		t.Errorf("summary %+v", sum)
	}
	if len(sum.Recent) != 2 || sum.Recent[0].OrderID != "o-2" || sum.Recent[1].OrderID != "o-1" {
		t.Errorf("recent %+v, want o-2 then o-1", sum.Recent)
	}

	step := func(status string, minutes int) returns.Step {
		return returns.Step{Status: status, At: t0.Add(time.Duration(minutes) * time.Minute)}
	}
	tt.Consume(string(tb.returns), "o-1", streams.Envelope[returns.State]{State: returns.State{Returns: []returns.Return{
		{ID: "r-old", Status: returns.Completed, History: []returns.Step{step(returns.Requested, 1), step(returns.Completed, 2)}},
		{ID: "r-new", Status: returns.LabelIssued, History: []returns.Step{step(returns.Requested, 3), step(returns.LabelIssued, 9)},
			WindowEnds: t0.Add(time.Hour), Due: t0.Add(time.Hour)},
	}}})
	tt.Consume(string(tb.returns), "o-2", streams.Envelope[returns.State]{State: returns.State{Returns: []returns.Return{
		{ID: "r-mid", Status: returns.Requested, History: []returns.Step{step(returns.Requested, 5)}},
	}}})
	rets, err := v.ListReturns(10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rets {
		ids = append(ids, r.OrderID+"/"+r.Return.ID)
	}
	if want := []string{"o-1/r-new", "o-2/r-mid", "o-1/r-old"}; !slices.Equal(ids, want) {
		t.Errorf("returns %v, want %v", ids, want)
	}
	if rets, _ := v.ListReturns(1); len(rets) != 1 || rets[0].Return.ID != "r-new" {
		t.Errorf("ListReturns(1) = %+v, want r-new", rets)
	}

	for _, sku := range []string{"sku-c", "sku-a", "sku-b"} {
		tt.Consume(string(tb.stock), sku, streams.Envelope[inventory.State]{State: inventory.State{OnHand: 10,
			Holds: []inventory.Hold{{Quantity: 3}}}})
	}
	stock, err := v.ListStock(2)
	if err != nil {
		t.Fatal(err)
	}
	want := []Stock{{SKU: "sku-a", Available: 7, Reserved: 3, OnHand: 10}, {SKU: "sku-b", Available: 7, Reserved: 3, OnHand: 10}}
	if !slices.Equal(stock, want) {
		t.Errorf("stock %+v, want %+v", stock, want)
	}
}
