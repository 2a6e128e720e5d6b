package inventory

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

func cmd(order string, op schemas.SkuOp, qty int32) schemas.SkuCommand {
	return schemas.SkuCommand{Meta: proctest.Meta("SkuCommand", order), SKU: "A", OrderID: order, Op: op, Quantity: qty}
}

func TestLedgerNeverOversells(t *testing.T) {
	decide := Decide(proctest.Topology)
	msg := streams.Message{Key: "A", Timestamp: proctest.At}
	s, _, err := decide(nil, schemas.StockAdjusted{Meta: proctest.Meta("StockAdjusted", ""), SKU: "A", Available: 10}, msg)
	if err != nil {
		t.Fatal(err)
	}
	granted := 0
	for _, o := range []string{"o1", "o2", "o3", "o4", "o5"} {
		next, emits, err := decide(s, cmd(o, schemas.SkuOpHold, 3), msg)
		if err != nil {
			t.Fatal(err)
		}
		if next != nil { // nil: refused, the ledger is unchanged
			s = next
		}
		if emits[0].Event.(schemas.SkuReply).Granted {
			granted++
		}
		if emits[0].Key != o {
			t.Errorf("reply keyed by %q, want the order id", emits[0].Key)
		}
	}
	if granted != 3 || s.Available() != 1 || s.Held() != 9 {
		t.Fatalf("granted %d, available %d, held %d; want 3, 1, 9", granted, s.Available(), s.Held())
	}
	// A redelivered HOLD (new event id, same order) holds nothing more.
	s2, emits, _ := decide(s, cmd("o1", schemas.SkuOpHold, 3), msg)
	if !emits[0].Event.(schemas.SkuReply).Granted || s2 != nil {
		t.Errorf("duplicate hold: changed the ledger to %+v", s2)
	}
	s, _, _ = decide(s, cmd("o1", schemas.SkuOpRelease, 3), msg)
	s, _, _ = decide(s, cmd("o2", schemas.SkuOpCommit, 3), msg)
	if again, _, _ := decide(s, cmd("o2", schemas.SkuOpCommit, 3), msg); again != nil { // no hold left
		t.Errorf("second commit changed the ledger: %+v", again)
	}
	if s.OnHand != 7 || s.Held() != 3 || s.Available() != 4 {
		t.Errorf("after release o1 and commit o2: on hand %d held %d available %d; want 7 3 4", s.OnHand, s.Held(), s.Available())
	}
}

func TestUnsetSKUHasNothing(t *testing.T) {
	_, emits, _ := Decide(proctest.Topology)(nil, cmd("o1", schemas.SkuOpHold, 1), streams.Message{Key: "A"})
	if r := emits[0].Event.(schemas.SkuReply); r.Granted || r.Available != 0 {
		t.Errorf("reply %+v", r)
	}
}

func TestBadCommandsAreRejected(t *testing.T) {
	decide := Decide(proctest.Topology)
	for name, c := range map[string]schemas.SkuCommand{
		"quantity 0": cmd("o1", schemas.SkuOpHold, 0),
		"no order":   cmd("", schemas.SkuOpHold, 1),
		"unknown op": cmd("o1", schemas.SkuOpUnknown, 1),
		"wrong key":  {Meta: proctest.Meta("SkuCommand", "o1"), SKU: "B", OrderID: "o1", Op: schemas.SkuOpHold, Quantity: 1},
	} {
		if _, _, err := decide(nil, c, streams.Message{Key: "A"}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// After a crash reservations may send an order's HOLD again after its COMMIT, and the COMMIT
// again after that. The stale HOLD is granted as a new hold (reservations releases it when it
// sees a hold number it did not record); the copied COMMIT names the old hold and deducts nothing.
func TestStaleHoldAfterCommitDeductsOnce(t *testing.T) {
	decide := Decide(proctest.Topology)
	msg := func(offset int64) streams.Message {
		return streams.Message{Key: "A", Timestamp: proctest.At, Offset: offset}
	}
	s, _, _ := decide(nil, schemas.StockAdjusted{Meta: proctest.Meta("StockAdjusted", ""), SKU: "A", Available: 10, Version: 1}, msg(0))
	hold := cmd("o1", schemas.SkuOpHold, 3)
	s, emits, _ := decide(s, hold, msg(1))
	first := emits[0].Event.(schemas.SkuReply)
	commit := cmd("o1", schemas.SkuOpCommit, 3)
	commit.HoldSeq = first.HoldSeq
	s, _, _ = decide(s, commit, msg(2))
	s, emits, _ = decide(s, hold, msg(3)) // the stale copy, at a new offset
	again := emits[0].Event.(schemas.SkuReply)
	if !again.Granted || again.HoldSeq == first.HoldSeq {
		t.Fatalf("stale HOLD: reply %+v; want a grant with a new hold number (first was %d)", again, first.HoldSeq)
	}
	if next, _, _ := decide(s, commit, msg(4)); next != nil {
		t.Fatalf("copied COMMIT changed the ledger: %+v", next)
	}
	release := cmd("o1", schemas.SkuOpRelease, 3)
	release.HoldSeq = again.HoldSeq // what reservations answers to the unknown hold number
	s, _, _ = decide(s, release, msg(5))
	if s.OnHand != 7 || s.Held() != 0 {
		t.Errorf("on hand %d held %d; want 7 and 0", s.OnHand, s.Held())
	}
}

// More traffic on one SKU than any window of remembered ids would hold, then a redelivered old
// StockAdjusted (Debezium delivers at least once, at a new offset): its version is not newer
// than the one applied, so on-hand is not reset and oversell stays impossible.
func TestRedeliveredOldStockAdjustmentAfterHeavyTraffic(t *testing.T) {
	decide := Decide(proctest.Topology)
	offset := int64(0)
	next := func(s *State, ev schemas.Event) (*State, []streams.Emit) {
		offset++
		n, emits, err := decide(s, ev, streams.Message{Key: "A", Timestamp: proctest.At, Offset: offset})
		if err != nil {
			t.Fatal(err)
		}
		if n == nil {
			return s, emits
		}
		return n, emits
	}
	old := schemas.StockAdjusted{Meta: proctest.Meta("StockAdjusted", ""), SKU: "A", Available: 100000, Version: 1}
	s, _ := next(nil, old)
	s, _ = next(s, schemas.StockAdjusted{Meta: proctest.Meta("StockAdjusted", ""), SKU: "A", Available: 5000, Version: 2})
	shipped := 0
	for i := range 5000 { // 10 000 commands: a HOLD and a COMMIT or RELEASE per order
		order := fmt.Sprintf("o%d", i)
		var emits []streams.Emit
		s, emits = next(s, cmd(order, schemas.SkuOpHold, 1))
		r := emits[0].Event.(schemas.SkuReply)
		op := schemas.SkuOpRelease
		if i%2 == 0 && r.Granted {
			op = schemas.SkuOpCommit
			shipped++
		}
		c := cmd(order, op, 1)
		c.HoldSeq = r.HoldSeq
		s, _ = next(s, c)
	}
	s, _ = next(s, old) // redelivered
	if s.OnHand != int64(5000-shipped) || s.Held() != 0 {
		t.Errorf("on hand %d held %d; want %d and 0", s.OnHand, s.Held(), 5000-shipped)
	}
}

// A replayed input (delivered again after a crash, offset already applied) changes nothing and
// re-sends what the state implies: the same grant for a held order, a refusal otherwise.
func TestReplayedHoldAnswersFromState(t *testing.T) {
	decide := Decide(proctest.Topology)
	msg := streams.Message{Key: "A", Timestamp: proctest.At, Offset: 7}
	s, _, _ := decide(nil, schemas.StockAdjusted{Meta: proctest.Meta("StockAdjusted", ""), SKU: "A", Available: 1, Version: 1}, msg)
	hold := cmd("o1", schemas.SkuOpHold, 1)
	s, first, _ := decide(s, hold, msg)
	msg.Replay = true
	next, again, _ := decide(s, hold, msg)
	if next != nil || len(again) != 1 || !reflect.DeepEqual(again[0], first[0]) {
		t.Fatalf("replayed HOLD: state %+v emits %+v; want no change and the same reply %+v", next, again, first)
	}
	if next, _, _ := decide(s, schemas.StockAdjusted{Meta: proctest.Meta("StockAdjusted", ""), SKU: "A", Available: 9, Version: 2}, msg); next != nil {
		t.Errorf("replayed StockAdjusted changed the ledger: %+v", next)
	}
}

func TestLedgerValueRoundTrips(t *testing.T) {
	c := TableCodec()
	v := busyLedger()
	data, err := c.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip: %+v\nwant %+v", got, v)
	}
	if len(data) > 700 {
		t.Errorf("a ledger with 50 holds takes %d bytes", len(data))
	}
}

// A ledger written as JSON by an older release (holds as a map of order id to units) is read,
// and its holds, which carry no number, are closed by their order's RELEASE or COMMIT.
func TestLegacyJSONLedgerIsRead(t *testing.T) {
	v, err := TableCodec().Decode([]byte(`{"state":{"on_hand":10,"holds":{"o1":3},"closed":["o0"],"recent":["x"]},"offsets":{"t":4},"sent":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := v.(streams.Envelope[State]).State
	if s.OnHand != 10 || s.Held() != 3 {
		t.Fatalf("legacy ledger read as %+v", s)
	}
	commit := cmd("o1", schemas.SkuOpCommit, 3)
	commit.HoldSeq = 77 // numbered by a reply of the new release
	next, _, _ := Decide(proctest.Topology)(&s, commit, streams.Message{Key: "A", Timestamp: proctest.At})
	if next == nil || next.OnHand != 7 || next.Held() != 0 {
		t.Errorf("commit of a legacy hold: %+v", next)
	}
}
