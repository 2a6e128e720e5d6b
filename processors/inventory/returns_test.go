package inventory

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

const memory = time.Hour

// restock is the orchestrator's RestockReturn of quantity units of SKU A, its step begun at
// occurred (constant across the step's retries; each retry has an event id of its own).
func restock(order, ret string, qty int32, occurred time.Time) schemas.RestockReturn {
	meta := proctest.Meta("RestockReturn", order)
	meta.OccurredAt = occurred
	return schemas.RestockReturn{Meta: meta, SKU: "A", OrderID: order, ReturnID: ret, Quantity: qty, Attempt: 1}
}

// ledgerWith is SKU A with onHand units set.
func ledgerWith(t *testing.T, onHand int64) *State {
	t.Helper()
	s, _, err := DecideRemembering(proctest.Topology, memory)(nil,
		schemas.StockAdjusted{Meta: proctest.Meta("StockAdjusted", ""), SKU: "A", Available: onHand, Version: 1}, streams.Message{Key: "A", Timestamp: proctest.At})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// feed is one input at its record time.
type feed struct {
	ev schemas.Event
	at time.Time
}

// restocks feeds inputs to the ledger and returns its state and the ReturnRestocked answers;
// the first refusal ends the run and is returned.
func restocks(s *State, inputs ...feed) (*State, []schemas.ReturnRestocked, error) {
	decide := DecideRemembering(proctest.Topology, memory)
	var out []schemas.ReturnRestocked
	for i, in := range inputs {
		next, emits, err := decide(s, in.ev, streams.Message{Key: "A", Timestamp: in.at, Offset: int64(i)})
		if err != nil {
			return s, out, err
		}
		if next != nil {
			s = next
		}
		for _, e := range emits {
			if r, ok := e.Event.(schemas.ReturnRestocked); ok {
				if e.Topic != proctest.Topology.ReturnReplies() || e.Key != r.OrderID {
					return s, out, fmt.Errorf("answer on %s under key %q, want the reply channel under the order id", e.Topic, e.Key)
				}
				out = append(out, r)
			}
		}
	}
	return s, out, nil
}

// A restock puts its units back on hand once per (order, return, SKU): a copy or a retry is
// answered again under the same event id and adds nothing, another return of the order is a
// restock of its own.
func TestRestockAddsExactlyOnce(t *testing.T) {
	began := proctest.At
	r1 := restock("o-1", "r-1", 3, began)
	retry := restock("o-1", "r-1", 3, began) // the next attempt: another event id
	cases := []struct {
		name      string
		inputs    []feed
		onHand    int64
		available []int64 // of each answer
	}{
		{"applied", []feed{{r1, began}}, 13, []int64{13}},
		{"a copy and a retry", []feed{{r1, began}, {r1, began.Add(time.Second)}, {retry, began.Add(time.Minute)}}, 13, []int64{13, 13, 13}},
		{"a retry after a hold, answered with the availability of now", []feed{{r1, began}, {cmd("o-9", schemas.SkuOpHold, 4), began}, {retry, began}}, 13, []int64{13, 9}},
		{"another return of the order", []feed{{r1, began}, {restock("o-1", "r-2", 2, began), began}}, 15, []int64{13, 15}},
		{"the same return of another order", []feed{{r1, began}, {restock("o-2", "r-1", 1, began), began}}, 14, []int64{13, 14}},
		{"a retry late within the memory", []feed{{r1, began}, {retry, began.Add(memory)}}, 13, []int64{13, 13}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, out, err := restocks(ledgerWith(t, 10), c.inputs...)
			if err != nil {
				t.Fatal(err)
			}
			var available []int64
			for _, r := range out {
				available = append(available, r.Available)
				want := streams.Meta("ReturnRestocked", schemas.Metadata{EventID: "restock/" + r.OrderID + "/" + r.ReturnID + "/A"}, r.OrderID, began, "").EventID
				if r.Meta.EventID != want || r.SKU != "A" {
					t.Errorf("answer %+v: want SKU A and event id %s", r, want)
				}
			}
			if s.OnHand != c.onHand || fmt.Sprint(available) != fmt.Sprint(c.available) {
				t.Errorf("on hand %d, answers with available %v; want %d, %v", s.OnHand, available, c.onHand, c.available)
			}
		})
	}
}

// Replayed after a crash, a restock is answered again and nothing changes.
func TestReplayedRestockIsAnsweredAgain(t *testing.T) {
	decide := DecideRemembering(proctest.Topology, memory)
	r := restock("o-1", "r-1", 3, proctest.At)
	m := streams.Message{Key: "A", Timestamp: proctest.At, Offset: 4}
	s, first, err := decide(ledgerWith(t, 10), r, m)
	if err != nil {
		t.Fatal(err)
	}
	m.Replay = true
	next, again, err := decide(s, r, m)
	if err != nil || next != nil || len(again) != 1 || !reflect.DeepEqual(again, first) {
		t.Fatalf("replay: state %+v, emits %+v, err %v; want no change and the answer %+v", next, again, err, first)
	}
}

func TestRestockRefusals(t *testing.T) {
	now := proctest.At
	wrongSKU := restock("o-1", "r-1", 1, now)
	wrongSKU.SKU = "B"
	cases := []struct {
		name    string
		command schemas.RestockReturn
		refused string
	}{
		{"quantity 0", restock("o-1", "r-1", 0, now), "quantity 0"},
		{"quantity above the maximum", restock("o-1", "r-1", schemas.MaxQuantity+1, now), "quantity 1000001"},
		{"no order", restock("", "r-1", 1, now), `order ""`},
		{"no return", restock("o-1", "", 1, now), `return ""`},
		{"under another key", wrongSKU, `under key "A"`},
		{"older than the memory", restock("o-1", "r-1", 1, now.Add(-memory-time.Millisecond)), "older than the ledger's memory (1h0m0s): not applied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, emits, err := DecideRemembering(proctest.Topology, memory)(ledgerWith(t, 10), c.command, streams.Message{Key: "A", Timestamp: now})
			if !errors.Is(err, streams.ErrRejected) || !strings.Contains(err.Error(), c.refused) || next != nil || len(emits) != 0 {
				t.Errorf("state %+v, emits %d, err %v; want a rejection mentioning %q", next, len(emits), err, c.refused)
			}
		})
	}
	if _, out, err := restocks(ledgerWith(t, 10), feed{restock("o-1", "r-1", 1, now.Add(-memory)), now}); err != nil || len(out) != 1 {
		t.Errorf("a restock just within the memory: answers %d, err %v; want it applied", len(out), err)
	}
}

// Every write forgets the restocks older than the memory, so the value holds the restocks of the
// last memory only, whatever the traffic; a copy of a forgotten restock is refused, not applied
// again, even when its record time lags behind (RestocksKeptSince), and goka's tester (no record
// times) neither forgets nor refuses by age.
func TestRestockMemoryIsBounded(t *testing.T) {
	s := ledgerWith(t, 0)
	start := proctest.At
	var err error
	for i := range 600 { // ten hours of one restock a minute
		at := start.Add(time.Duration(i) * time.Minute)
		if s, _, err = restocks(s, feed{restock(fmt.Sprintf("o-%d", i), "r", 1, at), at}); err != nil {
			t.Fatal(err)
		}
	}
	if s.OnHand != 600 || len(s.Restocks) > 61 || len(s.Restocks) < 60 {
		t.Fatalf("on hand %d, %d restocks remembered; want 600 and the last hour's (61)", s.OnHand, len(s.Restocks))
	}
	last := start.Add(599 * time.Minute)
	if want := last.Add(-memory).UnixMilli(); s.RestocksKeptSince != want {
		t.Errorf("kept since %d, want %d", s.RestocksKeptSince, want)
	}
	data, err := TableCodec().Encode(streams.Envelope[State]{State: *s})
	if err != nil || len(data) > 61*16+64 {
		t.Errorf("the value takes %d bytes (%v)", len(data), err)
	}

	forgotten := restock("o-0", "r", 1, start) // applied at start, forgotten since
	for name, at := range map[string]time.Time{
		"on time":                          last,
		"with a record time lagging back":  start.Add(30 * time.Minute),
		"with a record time at the origin": start,
	} {
		next, emits, err := DecideRemembering(proctest.Topology, memory)(s, forgotten, streams.Message{Key: "A", Timestamp: at})
		if !errors.Is(err, streams.ErrRejected) || next != nil || len(emits) != 0 {
			t.Errorf("copy of a forgotten restock %s: state changed %v, emits %d, err %v; want refused", name, next != nil, len(emits), err)
		}
	}
	remembered := restock("o-599", "r", 1, last)
	if next, out, err := restocks(s, feed{remembered, last.Add(time.Minute)}); err != nil || next.OnHand != 600 || len(out) != 1 {
		t.Errorf("copy of a remembered restock: on hand %d, answers %d, err %v; want answered, not applied", next.OnHand, len(out), err)
	}

	tester, out, err := restocks(ledgerWith(t, 0), feed{restock("o-1", "r", 2, start.Add(-30*24*time.Hour)), time.Time{}},
		feed{restock("o-2", "r", 1, start), time.Time{}})
	if err != nil || tester.OnHand != 3 || len(tester.Restocks) != 2 || tester.RestocksKeptSince != 0 || len(out) != 2 {
		t.Errorf("without record times: %+v, %d answers, err %v; want both applied and remembered", tester, len(out), err)
	}
}

// The memory is read from ORDERFLOW_RESTOCK_MEMORY, a Go duration; anything else is the default.
func TestRestockMemoryFromTheEnvironment(t *testing.T) {
	for v, want := range map[string]time.Duration{"": DefaultRestockMemory, "36h": 36 * time.Hour, "soon": DefaultRestockMemory, "-1h": DefaultRestockMemory} {
		t.Setenv("ORDERFLOW_RESTOCK_MEMORY", v)
		if got := RestockMemory(); got != want {
			t.Errorf("ORDERFLOW_RESTOCK_MEMORY=%q: %v, want %v", v, got, want)
		}
	}
}

// earlierLedger is a ledger value as the release before restocks wrote it (format byte, no
// offsets, on hand, version, holds).
func earlierLedger(onHand int64, holds ...Hold) []byte {
	w := &streams.Writer{}
	w.Uvarint(0)
	w.Varint(onHand)
	w.Varint(3)
	w.Uvarint(uint64(len(holds)))
	var prev int64
	for _, h := range holds {
		w.Fixed64(h.Order)
		w.Varint(int64(h.Quantity))
		w.Varint(h.Seq - prev)
		prev = h.Seq
	}
	return append([]byte{1}, w.Bytes()...)
}

// A value of the earlier layout decodes (the stock view reads it through TableCodec) and a value
// without restocks is still written in it; a value with restocks round-trips.
func TestLedgerWithRestocksRoundTrips(t *testing.T) {
	holds := []Hold{{Order: OrderKey("o-1"), Quantity: 2, Seq: 5}, {Order: OrderKey("o-2"), Quantity: 1, Seq: 9}}
	old := earlierLedger(10, holds...)
	v, err := TableCodec().Decode(old)
	want := streams.Envelope[State]{State: State{OnHand: 10, StockVersion: 3, Holds: holds}}
	if err != nil || !reflect.DeepEqual(v, want) {
		t.Fatalf("earlier layout decoded as %+v (%v), want %+v", v, err, want)
	}
	if data, _ := TableCodec().Encode(want); string(data) != string(old) {
		t.Errorf("a ledger without restocks is written as %x, want the earlier layout %x", data, old)
	}
	for name, s := range map[string]State{
		"restocks":                    {OnHand: 10, Holds: holds, Restocks: []Restock{{Key: RestockKey("o-1", "r-1"), At: proctest.At.UnixMilli()}, {Key: RestockKey("o-1", "r-2"), At: proctest.At.UnixMilli() + 5}}},
		"restocks, some forgotten":    {OnHand: 1, Restocks: []Restock{{Key: RestockKey("o-3", "r-1"), At: proctest.At.UnixMilli()}}, RestocksKeptSince: proctest.At.UnixMilli() - 1},
		"all forgotten, none applied": {OnHand: 1, RestocksKeptSince: proctest.At.UnixMilli()},
	} {
		in := streams.Envelope[State]{State: s, Offsets: map[string]int64{string(proctest.Topology.SkuCommands()): 7}}
		data, err := TableCodec().Encode(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := TableCodec().Decode(data)
		if err != nil || !reflect.DeepEqual(out, in) {
			t.Errorf("%s: round trip %+v (%v), want %+v", name, out, err, in)
		}
	}
}

// Through goka's tester: RestockReturn on the SKU command topic passes the eventType pre-filter,
// its answer goes to the returns' reply channel keyed by the order id (nothing to the SKU
// replies), a copy is answered again under the same id without adding, and a bad command is
// dead-lettered.
func TestRestockThroughTheWiring(t *testing.T) {
	serde := proctest.Serde(t)
	top := proctest.Topology
	h := proctest.New(t, serde, Group(top, streams.Env{Serde: serde, Poison: streams.DeadLetter(top, "inventory"),
		Contracts: top.Contracts()}))
	replies := h.Track(top.ReturnReplies())
	skuReplies := h.Track(top.SkuReplies())
	dlq := h.Track(streams.DLQTopic(top.SkuCommands()))
	h.Feed(top.StockEvents(), "A", schemas.StockAdjusted{Meta: proctest.Meta("StockAdjusted", ""), SKU: "A", Available: 5, Version: 1})
	r := restock("o-1", "r-1", 2, proctest.At)
	h.Feed(top.SkuCommands(), "A", r)
	h.Feed(top.SkuCommands(), "A", r)
	h.Feed(top.SkuCommands(), "A", restock("o-1", "r-2", 0, proctest.At))

	got := replies.All()
	if fmt.Sprint(proctest.Types(got)) != "[ReturnRestocked ReturnRestocked]" || len(skuReplies.All()) != 0 {
		t.Fatalf("replies %v, want the restock answered twice on the returns' reply channel", proctest.Types(got))
	}
	for _, e := range got {
		ev := e.Event.(schemas.ReturnRestocked)
		if e.Key != "o-1" || ev.Available != 7 || string(e.Headers[streams.HeaderEventID]) != got[0].Event.(schemas.ReturnRestocked).Meta.EventID {
			t.Errorf("answer %q %+v headers %v", e.Key, ev, e.Headers)
		}
	}
	if dead := dlq.Raw(); len(dead) != 1 || string(dead[0].Headers[streams.HeaderDLQKind]) != "rejected" {
		t.Fatalf("dead letters %+v, want the quantity-0 restock rejected", dead)
	}
	st := h.TT.TableValue(top.Table("inventory"), "A").(streams.Envelope[State]).State
	if st.OnHand != 7 || len(st.Restocks) != 1 {
		t.Errorf("table value of A: %+v", st)
	}
}
