package payments

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

// step feeds one event to the decision and returns the state it leaves (the previous one when
// unchanged) and its emits; an error fails the test.
func step(t *testing.T, decide streams.Decider[State], s *State, ev schemas.Event, m streams.Message) (*State, []streams.Emit) {
	t.Helper()
	next, emits, err := decide(s, ev, m)
	if err != nil {
		t.Fatalf("%s: %v", ev.Metadata().EventType, err)
	}
	if next == nil {
		return s, emits
	}
	return next, emits
}

// A timeout after the order was authorized refunds it once, with reason TIMEOUT; the timeout
// delivered again, a second one, or a stock rejection arriving afterwards refunds nothing more.
func TestTimeoutRefundsAnAuthorizedPaymentOnce(t *testing.T) {
	decide := Decide(proctest.Topology)
	order := proctest.Order("o-1", "c-1", "SKU-1", 2)
	timeout := proctest.TimedOut("o-1")
	s, placed := step(t, decide, nil, order, msg)
	s, refund := step(t, decide, s, timeout, msg)
	if got := append(types(placed), types(refund)...); !slices.Equal(got, []string{"PaymentAuthorized", "PaymentRefunded"}) {
		t.Fatalf("placed then timed out: emitted %v, want authorized then refunded", got)
	}
	r := refund[0].Event.(schemas.PaymentRefunded)
	if r.Reason != string(schemas.CancelTimeout) || r.AmountMinor != order.TotalMinor || r.Currency != "EUR" || r.OrderID != "o-1" ||
		*r.Meta.CausationID != timeout.Meta.EventID {
		t.Errorf("refund %+v: want reason TIMEOUT, the order's amount, caused by the timeout", r)
	}
	if s.Status != Refunded || s.CancelReason != schemas.CancelTimeout {
		t.Errorf("state %+v", s)
	}

	second := proctest.TimedOut("o-1") // another event id
	rejected := schemas.StockRejected{Meta: proctest.Meta("StockRejected", "o-1"), OrderID: "o-1"}
	for _, late := range []schemas.Event{timeout, second, rejected} {
		next, emits, err := decide(s, late, msg)
		if err != nil || len(emits) != 0 {
			t.Errorf("%s after the refund: emitted %v, err %v; want no second refund", late.Metadata().EventType, types(emits), err)
		}
		if next != nil {
			s = next
		}
	}
	if s.Status != Refunded || s.CancelReason != schemas.CancelTimeout || !s.StockRejected {
		t.Errorf("state after the late events %+v: want refunded for TIMEOUT, stock rejection recorded", s)
	}
}

// A timeout that arrives before the order means the order is never charged, like a stock
// rejection that arrives first.
func TestTimeoutBeforeTheOrderIsNeverCharged(t *testing.T) {
	decide := Decide(proctest.Topology)
	s, e1 := step(t, decide, nil, proctest.TimedOut("o-1"), msg)
	s, e2 := step(t, decide, s, proctest.Order("o-1", "c-1", "SKU-1", 2), msg)
	s, e3 := step(t, decide, s, schemas.StockRejected{Meta: proctest.Meta("StockRejected", "o-1"), OrderID: "o-1"}, msg)
	if got := slices.Concat(types(e1), types(e2), types(e3)); len(got) != 0 || s.Status != NotCharged {
		t.Errorf("timed out, then placed: emitted %v, status %s; want nothing, NOT_CHARGED", got, s.Status)
	}
}

// A declined payment has nothing to refund when the order times out.
func TestTimeoutAfterADeclineRefundsNothing(t *testing.T) {
	decide := Decide(proctest.Topology)
	s, _ := step(t, decide, nil, proctest.Order("o-1", "deny-1", "SKU-1", 2), msg)
	s, emits := step(t, decide, s, proctest.TimedOut("o-1"), msg)
	if len(emits) != 0 || s.Status != Declined {
		t.Errorf("declined, then timed out: emitted %v, status %s", types(emits), s.Status)
	}
}

// Replayed after a crash, a cancellation sends again the refund it caused, with the same event
// id, and the other cancellation sends nothing (it caused no refund): a refund is never sent
// under two ids.
func TestReplayedCancellationResendsOnlyItsOwnRefund(t *testing.T) {
	replay := msg
	replay.Replay = true
	rejected := schemas.StockRejected{Meta: proctest.Meta("StockRejected", "o-1"), OrderID: "o-1"}
	timeout := proctest.TimedOut("o-1")
	for name, c := range map[string]struct {
		first, second schemas.Event
		reason        schemas.CancelReason
	}{
		"timed out first":      {timeout, rejected, schemas.CancelTimeout},
		"stock rejected first": {rejected, timeout, schemas.CancelOutOfStock},
	} {
		t.Run(name, func(t *testing.T) {
			decide := Decide(proctest.Topology)
			s, _ := step(t, decide, nil, proctest.Order("o-1", "c-1", "SKU-1", 1), msg)
			s, refund := step(t, decide, s, c.first, msg)
			s, _ = step(t, decide, s, c.second, msg)
			next, again, err := decide(s, c.first, replay)
			if err != nil || next != nil || len(again) != 1 || len(refund) != 1 {
				t.Fatalf("replay of the refund's cause: state %+v, emits %v, err %v; want no change and the refund", next, types(again), err)
			}
			a, b := refund[0].Event.(schemas.PaymentRefunded), again[0].Event.(schemas.PaymentRefunded)
			if a.Meta.EventID != b.Meta.EventID || b.Reason != string(c.reason) || !reflect.DeepEqual(a, b) {
				t.Errorf("replay sent %+v, want the first refund %+v", b, a)
			}
			if next, emits, _ := decide(s, c.second, replay); next != nil || len(emits) != 0 {
				t.Errorf("replay of the other cancellation: state %+v, emits %v; want nothing", next, types(emits))
			}
		})
	}
}

// previousRelease is a payments table value as the release before OrderTimedOut wrote it: the
// envelope's format byte and offsets, then Status, AmountMinor, Currency, StockRejected.
func previousRelease(status string, stockRejected bool, offsets map[string]int64) []byte {
	w := &streams.Writer{}
	w.Uvarint(uint64(len(offsets)))
	for topic, off := range offsets { // at most one here: order does not matter
		w.String(topic)
		w.Varint(off)
	}
	w.String(status)
	w.Varint(2000)
	w.String("EUR")
	w.Bool(stockRejected)
	return append([]byte{1}, w.Bytes()...)
}

// Values written before CancelReason existed decode with it empty and mean what they meant: a
// refunded order was refunded for its stock (its replay resends that refund) and a timeout
// changes nothing. A value without CancelReason is still written in the previous layout, and a
// value with it round-trips.
func TestStateWrittenByThePreviousReleaseStillDecodes(t *testing.T) {
	codec := streams.StateCodec[State, *State]{}
	inventory := string(proctest.Topology.InventoryEvents())
	old := previousRelease(Refunded, true, map[string]int64{inventory: 4})
	v, err := codec.Decode(old)
	if err != nil {
		t.Fatal(err)
	}
	env := v.(streams.Envelope[State])
	want := State{Status: Refunded, AmountMinor: 2000, Currency: "EUR", StockRejected: true}
	if env.State != want || env.Offsets[inventory] != 4 {
		t.Fatalf("decoded %+v, want %+v with the offsets", env, want)
	}
	decide := Decide(proctest.Topology)
	rejected := schemas.StockRejected{Meta: proctest.Meta("StockRejected", "o-1"), OrderID: "o-1"}
	replay := msg
	replay.Replay = true
	if _, emits, _ := decide(&env.State, rejected, replay); len(emits) != 1 || emits[0].Event.(schemas.PaymentRefunded).Reason != string(schemas.CancelOutOfStock) {
		t.Errorf("replayed stock rejection of a previous refund: emitted %v, want the OUT_OF_STOCK refund", types(emits))
	}
	if next, emits, _ := decide(&env.State, proctest.TimedOut("o-1"), msg); next != nil || len(emits) != 0 {
		t.Errorf("timeout of an order refunded before: state %+v, emits %v; want nothing", next, types(emits))
	}

	unchanged, _ := codec.Encode(env)
	if string(unchanged) != string(old) {
		t.Errorf("a value without CancelReason is written as %x, want the previous layout %x", unchanged, old)
	}
	for _, s := range []State{
		{Status: Refunded, AmountMinor: 2000, Currency: "EUR", CancelReason: schemas.CancelTimeout},
		{Status: NotCharged, AmountMinor: 2000, Currency: "EUR", StockRejected: true, CancelReason: schemas.CancelOutOfStock},
		{CancelReason: schemas.CancelTimeout},
	} {
		in := streams.Envelope[State]{State: s, Offsets: map[string]int64{inventory: 9}}
		data, err := codec.Encode(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := codec.Decode(data)
		if err != nil || !reflect.DeepEqual(out, in) {
			t.Errorf("round trip of %+v: %+v, %v", in, out, err)
		}
	}
}

// Through goka's tester: OrderTimedOut on the deadline events topic passes the eventType
// pre-filter and refunds; the same timeout delivered again refunds nothing more.
func TestTimeoutThroughTheWiring(t *testing.T) {
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Poison: streams.LogPoison("payments"),
		Contracts: proctest.Topology.Contracts()}))
	out := h.Track(proctest.Topology.PaymentEvents())
	timeout := proctest.TimedOut("o-1")
	h.Feed(proctest.Topology.OrderEvents(), "o-1", proctest.Order("o-1", "c-1", "SKU-1", 1))
	h.Feed(proctest.Topology.DeadlineEvents(), "o-1", timeout)
	h.Feed(proctest.Topology.DeadlineEvents(), "o-1", timeout)
	h.Feed(proctest.Topology.DeadlineEvents(), "o-2", proctest.TimedOut("o-2"))
	h.Feed(proctest.Topology.OrderEvents(), "o-2", proctest.Order("o-2", "c-2", "SKU-1", 1))
	if got := fmt.Sprint(proctest.Types(out.All())); got != "[PaymentAuthorized PaymentRefunded]" {
		t.Fatalf("emitted %s, want o-1 authorized and refunded once, o-2 never charged", got)
	}
	for key, status := range map[string]string{"o-1": Refunded, "o-2": NotCharged} {
		if st := h.TT.TableValue(proctest.Topology.Table("payments"), key).(streams.Envelope[State]).State; st.Status != status {
			t.Errorf("table value of %s: %+v, want %s", key, st, status)
		}
	}
}
