package returns

import (
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

var cfg = Config{Window: time.Hour, RetryBase: 10 * time.Second, RetryMax: time.Minute}

const order = "o-1"

var returnID = schemas.ReturnID(order, "key-1")

// flow drives the decision as the processor would: state carried over, each input at its time.
type flow struct {
	t      *testing.T
	decide streams.Decider[State]
	s      *State
	now    time.Time
	sent   []streams.Emit // every command emitted
}

func newFlow(t *testing.T) *flow {
	return &flow{t: t, decide: Decide(proctest.Topology, cfg), now: proctest.At}
}

func (f *flow) feed(ev schemas.Event, replay bool) []streams.Emit {
	f.t.Helper()
	next, emits, err := f.decide(f.s, ev, streams.Message{Key: order, Timestamp: f.now, Replay: replay})
	if err != nil {
		f.t.Fatalf("%T: %v", ev, err)
	}
	if next != nil {
		f.s = next
	}
	f.sent = append(f.sent, emits...)
	return emits
}

func (f *flow) ret() Return {
	f.t.Helper()
	i := f.s.Find(returnID)
	if i < 0 {
		f.t.Fatalf("no return %s in %+v", returnID, f.s)
	}
	return f.s.Returns[i]
}

func (f *flow) statuses() []string {
	var out []string
	for _, h := range f.ret().History {
		out = append(out, h.Status)
	}
	return out
}

func requested(lines ...schemas.ReturnLine) schemas.ReturnRequested {
	return schemas.ReturnRequested{Meta: proctest.Meta("ReturnRequested", order), OrderID: order, ReturnID: returnID,
		Lines: lines, Currency: "EUR", RequestedAt: proctest.At,
		Ordered: []schemas.ReturnLine{{SKU: "A", Quantity: 2, UnitPriceMinor: 1000}, {SKU: "B", Quantity: 1, UnitPriceMinor: 250}}}
}

func labelIssued() schemas.ReturnLabelIssued {
	return schemas.ReturnLabelIssued{Meta: proctest.Meta("ReturnLabelIssued", order), OrderID: order, ReturnID: returnID, LabelID: "lbl-" + returnID}
}

func received(c schemas.ReturnCondition) schemas.ReturnReceived {
	return schemas.ReturnReceived{Meta: proctest.Meta("ReturnReceived", order), OrderID: order, ReturnID: returnID, Condition: c}
}

func refunded(amount int64) schemas.ReturnRefunded {
	return schemas.ReturnRefunded{Meta: proctest.Meta("ReturnRefunded", order), OrderID: order, ReturnID: returnID, AmountMinor: amount, Currency: "EUR"}
}

func restocked(sku string, q int32) schemas.ReturnRestocked {
	return schemas.ReturnRestocked{Meta: proctest.Meta("ReturnRestocked", order), OrderID: order, ReturnID: returnID, SKU: sku, Quantity: q}
}

func types(emits []streams.Emit) []string {
	var out []string
	for _, e := range emits {
		out = append(out, e.Event.Metadata().EventType)
	}
	return out
}

func TestAnAcceptedReturnIsRefundedRestockedAndCompleted(t *testing.T) {
	f := newFlow(t)
	if got := types(f.feed(requested(schemas.ReturnLine{SKU: "A", Quantity: 2, UnitPriceMinor: 1000}, schemas.ReturnLine{SKU: "B", Quantity: 1, UnitPriceMinor: 250}), false)); !slices.Equal(got, []string{"IssueReturnLabel"}) {
		t.Fatalf("request sent %v", got)
	}
	f.feed(labelIssued(), false)
	if r := f.ret(); r.Status != LabelIssued || !r.Due.Equal(proctest.At.Add(cfg.Window)) || WaitingFor(r) == "" {
		t.Fatalf("after the label: %+v", r)
	}
	emits := f.feed(received(schemas.ReturnConditionOK), false)
	if len(emits) != 1 {
		t.Fatalf("receipt sent %v", types(emits))
	}
	if refund, ok := emits[0].Event.(schemas.RefundReturn); !ok || refund.AmountMinor != 2250 || refund.Currency != "EUR" || emits[0].Key != order {
		t.Fatalf("refund command %+v, want 2×1000 + 250 EUR keyed by order", emits[0])
	}
	emits = f.feed(refunded(2250), false)
	var skus []string
	for _, e := range emits {
		cmd := e.Event.(schemas.RestockReturn)
		if e.Key != cmd.SKU || e.Topic != proctest.Topology.SkuCommands() {
			t.Errorf("restock %+v not keyed by its SKU on the ledger's commands", e)
		}
		skus = append(skus, cmd.SKU)
	}
	if !slices.Equal(skus, []string{"A", "B"}) {
		t.Fatalf("restocks for %v", skus)
	}
	f.feed(restocked("A", 2), false)
	f.feed(restocked("A", 2), false) // a copy
	if r := f.ret(); r.Status != Refunded || WaitingFor(r) != "inventory: the restock of B" {
		t.Fatalf("one line restocked: %s, waiting for %q", r.Status, WaitingFor(r))
	}
	f.feed(restocked("B", 1), false)
	r := f.ret()
	want := []string{Requested, LabelIssued, Received, Inspected, Refunded, Restocked, Completed}
	if r.Status != Completed || r.RefundMinor != 2250 || !slices.Equal(f.statuses(), want) {
		t.Fatalf("status %s refund %d history %v, want COMPLETED 2250 %v", r.Status, r.RefundMinor, f.statuses(), want)
	}
	if _, pending := f.s.PendingDeadline(); pending || WaitingFor(r) != "" {
		t.Errorf("a completed return still waits: %+v", r)
	}
}

func TestADamagedReturnIsRejectedWithoutRefundOrRestock(t *testing.T) {
	f := newFlow(t)
	f.feed(requested(schemas.ReturnLine{SKU: "A", Quantity: 1, UnitPriceMinor: 1000}), false)
	f.feed(labelIssued(), false)
	if emits := f.feed(received(schemas.ReturnConditionDamaged), false); len(emits) != 0 {
		t.Fatalf("a damaged return sent %v", types(emits))
	}
	if r := f.ret(); r.Status != Rejected || r.RefundMinor != 0 || !slices.Equal(f.statuses(), []string{Requested, LabelIssued, Received, Inspected, Rejected}) {
		t.Fatalf("%s %v", r.Status, f.statuses())
	}
	// a damaged return counts as returned: its units can not be asked for again
	if got := f.s.Returned("A"); got != 1 {
		t.Errorf("returned A = %d, want 1", got)
	}
}

func TestAReturnNotReceivedInItsWindowExpiresAndItsLabelIsVoided(t *testing.T) {
	f := newFlow(t)
	f.feed(requested(schemas.ReturnLine{SKU: "B", Quantity: 1, UnitPriceMinor: 250}), false)
	f.feed(labelIssued(), false)
	end := f.ret().WindowEnds
	f.now = end.Add(-time.Second) // a firing recorded before the deadline does nothing
	if emits := f.feed(schemas.TimerFired{Meta: proctest.Meta("TimerFired", order), Key: order, Deadline: end}, false); len(emits) != 0 {
		t.Fatalf("early firing sent %v", types(emits))
	}
	f.now = end.Add(time.Second)
	emits := f.feed(schemas.TimerFired{Meta: proctest.Meta("TimerFired", order), Key: order, Deadline: end}, false)
	if !slices.Equal(types(emits), []string{"VoidReturnLabel"}) {
		t.Fatalf("expiry sent %v", types(emits))
	}
	if emits := f.feed(received(schemas.ReturnConditionOK), false); len(emits) != 0 || f.ret().Status != Expired {
		t.Fatalf("a parcel after the window changed the return: %v %s", types(emits), f.ret().Status)
	}
	f.feed(schemas.ReturnLabelVoided{Meta: proctest.Meta("ReturnLabelVoided", order), OrderID: order, ReturnID: returnID, LabelID: "lbl"}, false)
	r := f.ret()
	if !r.LabelVoided || !slices.Equal(f.statuses(), []string{Requested, LabelIssued, Expired, LabelVoided}) {
		t.Fatalf("%+v %v", r, f.statuses())
	}
	if _, pending := f.s.PendingDeadline(); pending {
		t.Error("an expired, voided return still has a deadline")
	}
	if f.s.Returned("B") != 0 {
		t.Error("an expired return's units count as returned")
	}
}

func TestAnUnansweredStepIsRetriedWithBackoffAndAnswersEndIt(t *testing.T) {
	f := newFlow(t)
	f.feed(requested(schemas.ReturnLine{SKU: "A", Quantity: 1, UnitPriceMinor: 1000}), false)
	var ids []string
	var dues []time.Time
	for range 3 {
		due := f.ret().Due
		dues = append(dues, due)
		f.now = due
		emits := f.feed(schemas.TimerFired{Meta: proctest.Meta("TimerFired", order), Key: order, Deadline: due}, false)
		if len(emits) != 1 {
			t.Fatalf("retry sent %v", types(emits))
		}
		cmd := emits[0].Event.(schemas.IssueReturnLabel)
		ids = append(ids, cmd.Meta.EventID)
		if !cmd.Meta.OccurredAt.Equal(proctest.At) {
			t.Errorf("retry %d occurred at %s, want the step's start %s", cmd.Attempt, cmd.Meta.OccurredAt, proctest.At)
		}
	}
	if gaps := []time.Duration{dues[1].Sub(dues[0]), dues[2].Sub(dues[1])}; gaps[0] != 20*time.Second || gaps[1] != 40*time.Second {
		t.Errorf("retry gaps %v, want doubling 20s, 40s", gaps)
	}
	if ids[0] == ids[1] || ids[1] == ids[2] {
		t.Errorf("retries share event ids: %v", ids)
	}
	f.feed(labelIssued(), false)
	f.feed(labelIssued(), false) // answers to the retries change nothing more
	if r := f.ret(); r.Status != LabelIssued || r.Attempt != 0 || !r.Due.Equal(r.WindowEnds) {
		t.Fatalf("%+v", r)
	}
}

func TestAReplayedInputSendsTheWaitingCommandAgainWithTheSameID(t *testing.T) {
	f := newFlow(t)
	f.feed(requested(schemas.ReturnLine{SKU: "A", Quantity: 1, UnitPriceMinor: 1000}), false)
	f.feed(labelIssued(), false)
	first := f.feed(received(schemas.ReturnConditionOK), false)
	before := *f.s
	again := f.feed(received(schemas.ReturnConditionOK), true)
	if len(again) != 1 || again[0].Event.Metadata().EventID != first[0].Event.Metadata().EventID {
		t.Fatalf("replay sent %+v, want the refund command %+v again", again, first)
	}
	if len(f.s.Returns[0].History) != len(before.Returns[0].History) {
		t.Error("a replay changed the state")
	}
}

func TestARequestForMoreThanIsLeftIsRejectedWithTheReason(t *testing.T) {
	f := newFlow(t)
	f.feed(requested(schemas.ReturnLine{SKU: "A", Quantity: 2, UnitPriceMinor: 1000}), false)
	second := requested(schemas.ReturnLine{SKU: "A", Quantity: 1, UnitPriceMinor: 1000})
	second.ReturnID = schemas.ReturnID(order, "key-2")
	if emits := f.feed(second, false); len(emits) != 0 {
		t.Fatalf("an over-return sent %v", types(emits))
	}
	r := f.s.Returns[1]
	if r.Status != Rejected || r.History[len(r.History)-1].Note != "SKU A: 1 asked, 0 left to return" {
		t.Fatalf("%+v", r)
	}
	if f.s.Returned("A") != 2 {
		t.Errorf("returned %d, want 2 (the refused request takes nothing)", f.s.Returned("A"))
	}
	f.feed(requested(schemas.ReturnLine{SKU: "A", Quantity: 2, UnitPriceMinor: 1000}), false) // the first again
	if len(f.s.Returns) != 2 {
		t.Errorf("a redelivered request made %d returns", len(f.s.Returns))
	}
}

func TestPoisonReturnInputsAreRejected(t *testing.T) {
	decide := Decide(proctest.Topology, cfg)
	cases := map[string]schemas.Event{
		"no lines":        requested(),
		"unknown return":  received(schemas.ReturnConditionOK),
		"other order key": schemas.ReturnRefunded{Meta: proctest.Meta("ReturnRefunded", "o-2"), OrderID: "o-2", ReturnID: returnID},
	}
	for name, ev := range cases {
		if _, _, err := decide(nil, ev, streams.Message{Key: order}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStateRoundTrips(t *testing.T) {
	f := newFlow(t)
	f.feed(requested(schemas.ReturnLine{SKU: "A", Quantity: 2, UnitPriceMinor: 1000}), false)
	f.feed(labelIssued(), false)
	f.feed(received(schemas.ReturnConditionOK), false)
	f.feed(refunded(2000), false)
	f.feed(restocked("A", 2), false)
	c := TableCodec()
	data, err := c.Encode(streams.Envelope[State]{State: *f.s, Offsets: map[string]int64{"t": 3}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.(streams.Envelope[State]).State; len(g.Returns) != 1 || g.Returns[0].Status != Completed ||
		len(g.Returns[0].History) != len(f.s.Returns[0].History) || g.Returns[0].RefundMinor != 2000 || g.Returns[0].Lines[0] != f.s.Returns[0].Lines[0] {
		t.Fatalf("round trip: %+v\nwant %+v", g, *f.s)
	}
}
