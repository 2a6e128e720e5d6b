package payments

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

var msg = streams.Message{Timestamp: proctest.At}

func TestDecision(t *testing.T) {
	cases := []struct {
		customer string
		total    int64
		ok       bool
		reason   schemas.DeclineReason
	}{
		{"c-1", 500000, true, ""},
		{"c-1", 500001, false, schemas.DeclineAmountOverLimit},
		{"deny-7", 100, false, schemas.DeclineCustomerDenied},
		{"deny-7", 900000, false, schemas.DeclineCustomerDenied},
		{"c-deny-", 100, true, ""},
	}
	for _, c := range cases {
		ok, reason := Decision(schemas.OrderPlaced{CustomerID: c.customer, TotalMinor: c.total})
		if ok != c.ok || reason != c.reason {
			t.Errorf("customer %q total %d: (%v, %q), want (%v, %q)", c.customer, c.total, ok, reason, c.ok, c.reason)
		}
	}
}

func types(emits []streams.Emit) []string {
	var out []string
	for _, e := range emits {
		out = append(out, e.Event.Metadata().EventType)
	}
	return out
}

// Every arrival order of OrderPlaced and StockRejected ends with the customer not charged:
// refunded when the payment came first, never authorized when the rejection came first.
func TestStockRejectionInEitherOrder(t *testing.T) {
	decide := Decide(proctest.Topology)
	order := proctest.Order("o-1", "c-1", "SKU-1", 2)
	rejected := schemas.StockRejected{Meta: proctest.Meta("StockRejected", "o-1"), OrderID: "o-1"}

	s1, e1, _ := decide(nil, order, msg)
	s2, e2, _ := decide(s1, rejected, msg)
	if got := append(types(e1), types(e2)...); !slices.Equal(got, []string{"PaymentAuthorized", "PaymentRefunded"}) || s2.Status != Refunded {
		t.Errorf("placed then rejected: emitted %v, status %s; want authorized then refunded", got, s2.Status)
	}

	r1, f1, _ := decide(nil, rejected, msg)
	r2, f2, _ := decide(r1, order, msg)
	if got := append(types(f1), types(f2)...); len(got) != 0 || r2.Status != NotCharged {
		t.Errorf("rejected then placed: emitted %v, status %s; want nothing, NOT_CHARGED", got, r2.Status)
	}
}

func TestDuplicateEventsChangeNothing(t *testing.T) {
	decide := Decide(proctest.Topology)
	order := proctest.Order("o-1", "c-1", "SKU-1", 2)
	s1, _, _ := decide(nil, order, msg)
	s2, emits, err := decide(s1, order, msg)
	if err != nil || s2 != nil || len(emits) != 0 {
		t.Fatalf("redelivered OrderPlaced: state %+v, emits %v, err %v; want no change", s2, emits, err)
	}
	// The same order under a new event id (a second outbox row) is not charged twice.
	again := order
	again.Meta = proctest.Meta("OrderPlaced", "o-1")
	s3, emits, _ := decide(s1, again, msg)
	if len(emits) != 0 || s3 != nil {
		t.Errorf("second OrderPlaced for the same order emitted %v", types(emits))
	}
}

func TestInvalidOrderIsRejected(t *testing.T) {
	decide := Decide(proctest.Topology)
	bad := proctest.Order("o-1", "c-1", "SKU-1", 0)
	if _, _, err := decide(nil, bad, msg); err == nil {
		t.Fatal("an order with quantity 0 must be rejected")
	}
}

// Wiring through goka's tester: bytes in, decoded events out with id and type headers, a bad
// payload skipped without stopping the processor.
func TestProcessorWiring(t *testing.T) {
	h := proctest.New(t, proctest.Serde(t), Group(proctest.Topology, streams.Env{Serde: proctest.Serde(t), Poison: streams.DeadLetter(proctest.Topology, "payments")}))
	out := h.Track(proctest.Topology.PaymentEvents())
	dlq := h.Track(streams.DLQTopic(proctest.Topology.OrderEvents()))

	h.FeedRaw(proctest.Topology.OrderEvents(), "o-bad", []byte("not avro"))
	h.Feed(proctest.Topology.OrderEvents(), "o-1", proctest.Order("o-1", "c-1", "SKU-1", 1))
	h.Feed(proctest.Topology.OrderEvents(), "o-2", proctest.Order("o-2", "deny-2", "SKU-1", 1))

	got := out.All()
	if fmt.Sprint(proctest.Types(got)) != "[PaymentAuthorized PaymentDeclined]" {
		t.Fatalf("emitted %v", proctest.Types(got))
	}
	if got[0].Key != "o-1" || string(got[0].Headers[streams.HeaderEventType]) != "PaymentAuthorized" ||
		string(got[0].Headers[streams.HeaderEventID]) != got[0].Event.(schemas.PaymentAuthorized).Meta.EventID {
		t.Errorf("first emit: key %q headers %v", got[0].Key, got[0].Headers)
	}
	dead := dlq.Raw()
	if len(dead) != 1 || dead[0].Key != "o-bad" || string(dead[0].Value) != "not avro" {
		t.Fatalf("dead letters: %+v, want the bad payload byte for byte", dead)
	}
	for h, want := range map[string]string{
		streams.HeaderDLQTopic: string(proctest.Topology.OrderEvents()), streams.HeaderDLQProcessor: "payments",
		streams.HeaderDLQKind: "bad_magic_byte",
	} {
		if got := string(dead[0].Headers[h]); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if dead[0].Headers[streams.HeaderDLQOffset] == nil || !strings.Contains(string(dead[0].Headers[streams.HeaderDLQMessage]), "0x6e") {
		t.Errorf("headers %v lack the offset or a message naming the bad byte", dead[0].Headers)
	}
	st := h.TT.TableValue(proctest.Topology.Table("payments"), "o-2").(streams.Envelope[State]).State
	if st.Status != Declined {
		t.Errorf("table value for o-2: %+v", st)
	}
}

// After a crash, goka delivers again the inputs whose offsets were not committed, while the table
// may already hold their effect. The durable callback recognises the replay by offset; the
// decision is not taken again (the state is kept) and the emit it caused is sent again with the
// same event id, so a lost emit is recovered and a copy is ignored downstream.
func TestReplayAfterCrashResendsTheDecision(t *testing.T) {
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Poison: streams.LogPoison("payments")}))
	out := h.Track(proctest.Topology.PaymentEvents())
	order := proctest.Order("o-1", "c-1", "SKU-1", 1)
	h.Feed(proctest.Topology.OrderEvents(), "o-1", order)
	first := out.All()
	// the state as a crash could leave it: the offset applied, the decision recorded
	topic := string(proctest.Topology.OrderEvents())
	h.TT.SetTableValue(proctest.Topology.Table("payments"), "o-1", streams.Envelope[State]{
		State: State{Status: Authorized, AmountMinor: order.TotalMinor, Currency: "EUR"}, Offsets: map[string]int64{topic: 1}})
	h.Feed(proctest.Topology.OrderEvents(), "o-1", order) // offset 1, ≤ the applied offset: a replay

	again := out.All() // what was emitted since
	if len(first) != 1 || len(again) != 1 {
		t.Fatalf("emits %v then %v", proctest.Types(first), proctest.Types(again))
	}
	a, b := first[0].Event.(schemas.PaymentAuthorized), again[0].Event.(schemas.PaymentAuthorized)
	if a.Meta.EventID != b.Meta.EventID || a.AmountMinor != b.AmountMinor {
		t.Errorf("replay sent %+v, want the first emit %+v again", b, a)
	}
	st := h.TT.TableValue(proctest.Topology.Table("payments"), "o-1").(streams.Envelope[State])
	if st.State.Status != Authorized || st.Offsets[topic] != 1 {
		t.Errorf("replay changed the table value: %+v", st)
	}
}
