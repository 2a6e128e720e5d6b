package payments

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

func refundReturn(orderID, returnID string, amount int64, currency string) schemas.RefundReturn {
	return schemas.RefundReturn{Meta: proctest.Meta("RefundReturn", orderID), OrderID: orderID, ReturnID: returnID,
		AmountMinor: amount, Currency: currency, Attempt: 1}
}

// paid is the payments state of order o-1 authorized for 2 units (2000 EUR minor units).
func paid(t *testing.T) *State {
	t.Helper()
	s, _ := step(t, Decide(proctest.Topology), nil, proctest.Order("o-1", "c-1", "SKU-1", 2), msg)
	if s.Status != Authorized || s.AmountMinor != 2000 {
		t.Fatalf("o-1 not authorized for 2000: %+v", s)
	}
	return s
}

var keyed = streams.Message{Key: "o-1", Timestamp: proctest.At}

// refunds feeds RefundReturn commands and returns the state and the amounts answered, each with
// its event id.
func refunds(t *testing.T, s *State, commands ...schemas.RefundReturn) (*State, []schemas.ReturnRefunded) {
	t.Helper()
	decide := Decide(proctest.Topology)
	var out []schemas.ReturnRefunded
	for _, c := range commands {
		var emits []streams.Emit
		s, emits = step(t, decide, s, c, keyed)
		for _, e := range emits {
			if e.Topic != proctest.Topology.ReturnReplies() || e.Key != "o-1" {
				t.Fatalf("reply on %s under key %q, want the reply channel under the order id", e.Topic, e.Key)
			}
			out = append(out, e.Event.(schemas.ReturnRefunded))
		}
	}
	return s, out
}

// A return is refunded what it asks, capped at what the payment has left after the earlier
// returns' refunds, once: a copy or a retry is answered with the amount refunded, under the same
// event id, and refunds nothing more.
func TestReturnRefunds(t *testing.T) {
	r1, r2 := refundReturn("o-1", "r-1", 500, "EUR"), refundReturn("o-1", "r-2", 1800, "EUR")
	retry := r1
	retry.Meta, retry.Attempt = proctest.Meta("RefundReturn", "o-1"), 2
	cases := []struct {
		name     string
		commands []schemas.RefundReturn
		answered []string // return=amount
		refunded int64
	}{
		{"the amount asked", []schemas.RefundReturn{r1}, []string{"r-1=500"}, 500},
		{"capped at the payment", []schemas.RefundReturn{refundReturn("o-1", "r-1", 5000, "EUR")}, []string{"r-1=2000"}, 2000},
		{"capped at what earlier returns left", []schemas.RefundReturn{r1, r2}, []string{"r-1=500", "r-2=1500"}, 2000},
		{"a copy and a retry refund nothing more", []schemas.RefundReturn{r1, r1, retry}, []string{"r-1=500", "r-1=500", "r-1=500"}, 500},
		{"nothing left", []schemas.RefundReturn{refundReturn("o-1", "r-1", 2000, "EUR"), r2}, []string{"r-1=2000", "r-2=0"}, 2000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, out := refunds(t, paid(t), c.commands...)
			var got []string
			ids := map[string]string{}
			for _, r := range out {
				got = append(got, fmt.Sprintf("%s=%d", r.ReturnID, r.AmountMinor))
				if r.Currency != "EUR" || r.OrderID != "o-1" {
					t.Errorf("answer %+v", r)
				}
				if id, ok := ids[r.ReturnID]; ok && id != r.Meta.EventID {
					t.Errorf("return %s answered under two event ids: the orchestrator could not deduplicate", r.ReturnID)
				}
				ids[r.ReturnID] = r.Meta.EventID
			}
			if fmt.Sprint(got) != fmt.Sprint(c.answered) {
				t.Errorf("answered %v, want %v", got, c.answered)
			}
			if s.ReturnRefunds.TotalMinor() != c.refunded || s.Status != Authorized || s.AmountMinor != 2000 {
				t.Errorf("state %+v (refunds %+v): want %d refunded, the payment still AUTHORIZED for 2000", s, s.ReturnRefunds.All(), c.refunded)
			}
		})
	}
}

// The answer's event id derives from the return alone, as the orchestrator can compute it
// (streams.Meta of cause "refund/<return id>"); a replay after a crash answers again under it and
// changes nothing.
func TestReplayedReturnRefundIsAnsweredAgain(t *testing.T) {
	c := refundReturn("o-1", "r-1", 700, "EUR")
	s, first := refunds(t, paid(t), c)
	replay := keyed
	replay.Replay = true
	next, emits, err := Decide(proctest.Topology)(s, c, replay)
	if err != nil || next != nil || len(emits) != 1 {
		t.Fatalf("replay: state %+v, emits %v, err %v; want no change and the answer", next, types(emits), err)
	}
	if again := emits[0].Event.(schemas.ReturnRefunded); !reflect.DeepEqual(again, first[0]) {
		t.Errorf("replay answered %+v, want %+v", again, first[0])
	}
	if want := streams.Meta("ReturnRefunded", schemas.Metadata{EventID: "refund/r-1"}, "o-1", proctest.At, "").EventID; first[0].Meta.EventID != want {
		t.Errorf("event id %s, want %s", first[0].Meta.EventID, want)
	}
	if *first[0].Meta.CausationID != c.Meta.EventID {
		t.Errorf("causation %s, want the command %s", *first[0].Meta.CausationID, c.Meta.EventID)
	}
}

func TestReturnRefundRefusals(t *testing.T) {
	decide := Decide(proctest.Topology)
	declined, _ := step(t, decide, nil, proctest.Order("o-1", "deny-1", "SKU-1", 2), msg)
	cancelled, _ := step(t, decide, paid(t), proctest.TimedOut("o-1"), msg)
	timedOut, _ := step(t, decide, nil, proctest.TimedOut("o-1"), msg)
	notCharged, _ := step(t, decide, timedOut, proctest.Order("o-1", "c-1", "SKU-1", 2), msg)
	full := paid(t)
	for i := range MaxReturnRefunds {
		full.ReturnRefunds = full.ReturnRefunds.With(ReturnRefund{ReturnID: fmt.Sprintf("r-%d", i), AmountMinor: 1})
	}
	cases := []struct {
		name    string
		state   *State
		command schemas.RefundReturn
		refused string
	}{
		{"another currency", paid(t), refundReturn("o-1", "r-1", 500, "USD"), `currency "USD"`},
		{"a zero amount", paid(t), refundReturn("o-1", "r-1", 0, "EUR"), "≤ 0"},
		{"a negative amount", paid(t), refundReturn("o-1", "r-1", -5, "EUR"), "≤ 0"},
		{"under another key", paid(t), refundReturn("o-2", "r-1", 500, "EUR"), "under key"},
		{"without a return id", paid(t), refundReturn("o-1", "", 500, "EUR"), "under key"},
		{"an order never seen", nil, refundReturn("o-1", "r-1", 500, "EUR"), "no payment"},
		{"an order timed out before it was placed", timedOut, refundReturn("o-1", "r-1", 500, "EUR"), "no payment"},
		{"a declined payment", declined, refundReturn("o-1", "r-1", 500, "EUR"), "DECLINED, not AUTHORIZED"},
		{"a cancelled order, refunded", cancelled, refundReturn("o-1", "r-1", 500, "EUR"), "REFUNDED, not AUTHORIZED"},
		{"a cancelled order, never charged", notCharged, refundReturn("o-1", "r-1", 500, "EUR"), "NOT_CHARGED, not AUTHORIZED"},
		{"a return beyond the bound", full, refundReturn("o-1", "r-new", 1, "EUR"), "the most it may have"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, emits, err := decide(c.state, c.command, keyed)
			if !errors.Is(err, streams.ErrRejected) || !strings.Contains(err.Error(), c.refused) || next != nil || len(emits) != 0 {
				t.Errorf("state %+v, emits %v, err %v; want a rejection mentioning %q", next, types(emits), err, c.refused)
			}
		})
	}
	// returns refunded within the bound are still answered
	if _, out := refunds(t, full, refundReturn("o-1", "r-3", 9, "EUR")); len(out) != 1 || out[0].AmountMinor != 1 {
		t.Errorf("a refund within the bound answered %+v, want its recorded amount 1", out)
	}
}

// A return refund leaves the payment AUTHORIZED; a cancellation afterwards refunds what the
// returns left (once, as before), a later return is refused, and an earlier return's copy is
// still answered.
func TestCancellationAfterAReturnRefundsWhatIsLeft(t *testing.T) {
	decide := Decide(proctest.Topology)
	s, _ := refunds(t, paid(t), refundReturn("o-1", "r-1", 500, "EUR"))
	timeout := proctest.TimedOut("o-1")
	s, emits := step(t, decide, s, timeout, msg)
	if len(emits) != 1 {
		t.Fatalf("timeout after a return refund emitted %v, want one refund", types(emits))
	}
	if r := emits[0].Event.(schemas.PaymentRefunded); r.AmountMinor != 1500 || r.Reason != string(schemas.CancelTimeout) || s.Status != Refunded {
		t.Errorf("refund %+v, status %s; want the 1500 left for TIMEOUT, REFUNDED", r, s.Status)
	}
	replay := msg
	replay.Replay = true
	if _, again, _ := decide(s, timeout, replay); len(again) != 1 || !reflect.DeepEqual(again[0], emits[0]) {
		t.Errorf("replayed timeout sent %v, want the same refund", types(again))
	}
	if _, _, err := decide(s, refundReturn("o-1", "r-2", 100, "EUR"), keyed); !errors.Is(err, streams.ErrRejected) {
		t.Errorf("a return after the cancellation: err %v, want rejected", err)
	}
	if _, out := refunds(t, s, refundReturn("o-1", "r-1", 500, "EUR")); len(out) != 1 || out[0].AmountMinor != 500 {
		t.Errorf("copy of the earlier return answered %+v, want 500 again", out)
	}
}

// Values of the earlier layouts decode (previousRelease is the one before CancelReason), a value
// without return refunds is still written in them, and a value with return refunds round-trips
// with or without a CancelReason.
func TestPaymentStateWithReturnRefundsRoundTrips(t *testing.T) {
	codec := streams.StateCodec[State, *State]{}
	topic := string(proctest.Topology.ReturnTasks())
	withReason := streams.Envelope[State]{State: State{Status: Refunded, AmountMinor: 2000, Currency: "EUR", CancelReason: schemas.CancelTimeout},
		Offsets: map[string]int64{topic: 2}}
	w := &streams.Writer{}
	w.Uvarint(1)
	w.String(topic)
	w.Varint(2)
	w.String(Refunded)
	w.Varint(2000)
	w.String("EUR")
	w.Bool(false)
	w.String(string(schemas.CancelTimeout))
	timeoutRelease := append([]byte{1}, w.Bytes()...)
	for name, c := range map[string]struct {
		data []byte
		want streams.Envelope[State]
	}{
		"before CancelReason": {previousRelease(Authorized, false, map[string]int64{topic: 2}),
			streams.Envelope[State]{State: State{Status: Authorized, AmountMinor: 2000, Currency: "EUR"}, Offsets: map[string]int64{topic: 2}}},
		"before return refunds": {timeoutRelease, withReason},
	} {
		v, err := codec.Decode(c.data)
		if err != nil || !reflect.DeepEqual(v, c.want) {
			t.Errorf("%s: decoded %+v (%v), want %+v", name, v, err, c.want)
		}
		if data, _ := codec.Encode(c.want); string(data) != string(c.data) {
			t.Errorf("%s: written as %x, want the earlier layout %x", name, data, c.data)
		}
	}

	refunded := NewReturnRefunds(ReturnRefund{ReturnID: "r-1", AmountMinor: 500}, ReturnRefund{ReturnID: "r-2", AmountMinor: 0})
	for _, s := range []State{
		{Status: Authorized, AmountMinor: 2000, Currency: "EUR", ReturnRefunds: refunded},
		{Status: Refunded, AmountMinor: 2000, Currency: "EUR", CancelReason: schemas.CancelTimeout, StockRejected: true, ReturnRefunds: refunded},
	} {
		in := streams.Envelope[State]{State: s, Offsets: map[string]int64{topic: 9}}
		data, err := codec.Encode(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := codec.Decode(data)
		if err != nil || out.(streams.Envelope[State]).State != s {
			t.Errorf("round trip of %+v: %+v, %v", s, out, err)
		}
	}
}

// Through goka's tester: RefundReturn on the return tasks topic passes the eventType pre-filter
// (shipping's label commands on the same topic are passed over), the answer goes to the reply
// channel keyed by order id, a copy is answered again under the same id without a second refund,
// and a refund in another currency is dead-lettered.
func TestReturnRefundThroughTheWiring(t *testing.T) {
	serde := proctest.Serde(t)
	top := proctest.Topology
	h := proctest.New(t, serde, Group(top, streams.Env{Serde: serde, Poison: streams.DeadLetter(top, "payments"),
		Contracts: top.Contracts()}))
	replies := h.Track(top.ReturnReplies())
	dlq := h.Track(streams.DLQTopic(top.ReturnTasks()))
	h.Feed(top.OrderEvents(), "o-1", proctest.Order("o-1", "c-1", "SKU-1", 2))
	refund := refundReturn("o-1", "r-1", 800, "EUR")
	h.Feed(top.ReturnTasks(), "o-1", refund)
	h.Feed(top.ReturnTasks(), "o-1", refund)
	h.Feed(top.ReturnTasks(), "o-1", schemas.IssueReturnLabel{Meta: proctest.Meta("IssueReturnLabel", "o-1"), OrderID: "o-1", ReturnID: "r-1"})
	h.Feed(top.ReturnTasks(), "o-1", refundReturn("o-1", "r-2", 100, "USD"))

	got := replies.All()
	if fmt.Sprint(proctest.Types(got)) != "[ReturnRefunded ReturnRefunded]" {
		t.Fatalf("replies %v, want the refund answered twice", proctest.Types(got))
	}
	for _, r := range got {
		ev := r.Event.(schemas.ReturnRefunded)
		if r.Key != "o-1" || ev.AmountMinor != 800 || string(r.Headers[streams.HeaderEventID]) != got[0].Event.(schemas.ReturnRefunded).Meta.EventID {
			t.Errorf("reply %q %+v headers %v", r.Key, ev, r.Headers)
		}
	}
	dead := dlq.Raw()
	if len(dead) != 1 || string(dead[0].Headers[streams.HeaderDLQKind]) != "rejected" || !strings.Contains(string(dead[0].Headers[streams.HeaderDLQMessage]), "USD") {
		t.Fatalf("dead letters %+v, want the USD refund rejected", dead)
	}
	st := h.TT.TableValue(top.Table("payments"), "o-1").(streams.Envelope[State]).State
	if st.Status != Authorized || st.ReturnRefunds.TotalMinor() != 800 {
		t.Errorf("table value of o-1: %+v (refunds %+v)", st, st.ReturnRefunds.All())
	}
}
