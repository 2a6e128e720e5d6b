package inventory

import (
	"testing"

	"github.com/orderflow/orderflow/pipelines/streams"
	"github.com/orderflow/orderflow/processors/proctest"
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
		s = next
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
	if !emits[0].Event.(schemas.SkuReply).Granted || s2.Held() != 9 {
		t.Errorf("duplicate hold: held %d", s2.Held())
	}
	s, _, _ = decide(s2, cmd("o1", schemas.SkuOpRelease, 3), msg)
	s, _, _ = decide(s, cmd("o2", schemas.SkuOpCommit, 3), msg)
	s, _, _ = decide(s, cmd("o2", schemas.SkuOpCommit, 3), msg) // again: no hold left, nothing happens
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

// After a crash reservations may send an order's HOLD again after its COMMIT (and the COMMIT
// again after that): no phantom hold, no second deduction.
func TestStaleHoldAfterCommitGrantsNothing(t *testing.T) {
	decide := Decide(proctest.Topology)
	msg := streams.Message{Key: "A", Timestamp: proctest.At}
	s, _, _ := decide(nil, schemas.StockAdjusted{Meta: proctest.Meta("StockAdjusted", ""), SKU: "A", Available: 10}, msg)
	// fresh event ids: the copies arrive after the memory of recent ids has rolled over
	for _, c := range []schemas.SkuCommand{cmd("o1", schemas.SkuOpHold, 3), cmd("o1", schemas.SkuOpCommit, 3),
		cmd("o1", schemas.SkuOpHold, 3), cmd("o1", schemas.SkuOpCommit, 3)} {
		next, _, err := decide(s, c, msg)
		if err != nil {
			t.Fatal(err)
		}
		if next != nil {
			s = next
		}
	}
	if s.OnHand != 7 || s.Held() != 0 {
		t.Errorf("on hand %d held %d; want 7 and 0", s.OnHand, s.Held())
	}
}
