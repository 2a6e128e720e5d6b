package inventory

import (
	"maps"
	"slices"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/pipelines/streams"
	"github.com/orderflow/orderflow/pipelines/topology"
	"github.com/orderflow/orderflow/schemas"
)

// Hold is the units held for one order and the hold's number: the offset (plus one) of the HOLD
// that created it, increasing per SKU, so a RELEASE or COMMIT names exactly the hold it closes.
type Hold struct {
	Quantity int32 `json:"quantity"`
	Seq      int64 `json:"seq"`
}

// State is the ledger's table value for one SKU. It holds what is open (the on-hand count and
// the active holds) and one number per source that recognises redelivered inputs, nothing that
// grows with history:
//   - a StockAdjusted carries a per-SKU version assigned in PostgreSQL; one not newer than
//     StockVersion is a redelivery (Debezium delivers at least once) and changes nothing;
//   - a HOLD for an order that already holds is answered again with the same hold; a HOLD sent
//     again after its hold was closed is granted as a new hold, and reservations releases it on
//     seeing a hold number it did not record (no list of closed orders is needed);
//   - a RELEASE or COMMIT applies only to the hold it names, so a copy, or one arriving after a
//     stale HOLD was granted again, never releases or deducts twice.
type State struct {
	OnHand       int64           `json:"on_hand"`
	StockVersion int64           `json:"stock_version,omitempty"`
	Holds        map[string]Hold `json:"holds,omitempty"` // order id → hold
}

// MarshalState implements streams.BinaryState.
func (s *State) MarshalState(w *streams.Writer) {
	w.Varint(s.OnHand)
	w.Varint(s.StockVersion)
	w.Uvarint(uint64(len(s.Holds)))
	for _, order := range slices.Sorted(maps.Keys(s.Holds)) {
		h := s.Holds[order]
		w.String(order)
		w.Varint(int64(h.Quantity))
		w.Varint(h.Seq)
	}
}

// UnmarshalState implements streams.BinaryState.
func (s *State) UnmarshalState(r *streams.Reader) {
	s.OnHand, s.StockVersion = r.Varint(), r.Varint()
	if n := r.Count(3); n > 0 {
		s.Holds = make(map[string]Hold, n)
		for range n {
			order := r.String()
			s.Holds[order] = Hold{Quantity: r.Int32(), Seq: r.Varint()}
		}
	}
}

// Held is the number of units held for orders.
func (s State) Held() int64 {
	var n int64
	for _, h := range s.Holds {
		n += int64(h.Quantity)
	}
	return n
}

// Available is on hand minus held.
func (s State) Available() int64 { return s.OnHand - s.Held() }

// closes reports whether a RELEASE or COMMIT naming seq (0: any) closes hold h.
func closes(h Hold, seq int64) bool { return seq == 0 || h.Seq == seq }

// Decide is the stock ledger's pure decision function.
func Decide(t topology.Topology) streams.Decider[State] {
	reply := func(s State, e schemas.SkuCommand, granted bool, seq int64, msg streams.Message) streams.Emit {
		return streams.Emit{Topic: t.SkuReplies(), Key: e.OrderID, Event: schemas.SkuReply{
			Meta:    streams.Meta("SkuReply", e.Meta, e.OrderID, msg.Timestamp, ""),
			OrderID: e.OrderID, SKU: e.SKU, Op: e.Op, Quantity: e.Quantity, Granted: granted, Available: s.Available(), HoldSeq: seq,
		}}
	}
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = *state
		}
		switch e := ev.(type) {
		case schemas.StockAdjusted:
			if e.SKU == "" || e.SKU != msg.Key {
				return nil, nil, streams.Rejectf("StockAdjusted for SKU %q arrived under key %q", e.SKU, msg.Key)
			}
			if e.Available < 0 {
				return nil, nil, streams.Rejectf("StockAdjusted %s: available %d < 0", e.SKU, e.Available)
			}
			if msg.Replay || (e.Version > 0 && e.Version <= s.StockVersion) {
				return nil, nil, nil // applied already
			}
			s.OnHand = e.Available
			s.StockVersion = max(s.StockVersion, e.Version)
			return &s, nil, nil
		case schemas.SkuCommand:
			if e.SKU != msg.Key || e.OrderID == "" || e.Quantity <= 0 {
				return nil, nil, streams.Rejectf("SkuCommand %s for SKU %q order %q quantity %d under key %q", e.Op, e.SKU, e.OrderID, e.Quantity, msg.Key)
			}
			h, held := s.Holds[e.OrderID]
			switch e.Op {
			case schemas.SkuOpHold:
				if held {
					return nil, []streams.Emit{reply(s, e, true, h.Seq, msg)}, nil // answered again, same hold
				}
				if msg.Replay {
					// The hold this HOLD created is closed by now, or it was refused: either way
					// the order's reply was a refusal or has been answered; a refusal is sent again.
					return nil, []streams.Emit{reply(s, e, false, 0, msg)}, nil
				}
				if s.Available() < int64(e.Quantity) {
					return nil, []streams.Emit{reply(s, e, false, 0, msg)}, nil
				}
				s.Holds = maps.Clone(s.Holds)
				if s.Holds == nil {
					s.Holds = map[string]Hold{}
				}
				h = Hold{Quantity: e.Quantity, Seq: msg.Offset + 1}
				s.Holds[e.OrderID] = h
				return &s, []streams.Emit{reply(s, e, true, h.Seq, msg)}, nil
			case schemas.SkuOpRelease, schemas.SkuOpCommit:
				if !held || !closes(h, e.HoldSeq) {
					return nil, nil, nil // closed already, or names another hold
				}
				s.Holds = maps.Clone(s.Holds)
				delete(s.Holds, e.OrderID)
				if e.Op == schemas.SkuOpCommit {
					s.OnHand -= int64(h.Quantity)
				}
				return &s, nil, nil
			default:
				return nil, nil, streams.Rejectf("SkuCommand with unknown op %q", e.Op)
			}
		}
		return nil, nil, nil
	}
}

// TableCodec is the codec of the ledger's table (views read it too).
func TableCodec() goka.Codec { return streams.StateCodec[State, *State]{} }

// Group defines the inventory ledger processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupInventory, Decide(t))
	return streams.DefineGroup(t.Group(topology.GroupInventory), TableCodec(), cb,
		[]goka.Stream{t.StockEvents(), t.SkuCommands()},
		t.SkuReplies())
}
