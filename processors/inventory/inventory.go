package inventory

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
)

// Hold is the units held for one order and the hold's number: the offset (plus one) of the HOLD
// that created it, increasing per SKU, so a RELEASE or COMMIT names exactly the hold it closes.
// The order is kept as a 64-bit hash of its id: 8 bytes instead of 36, for a value that is read
// and written on every command of its SKU.
type Hold struct {
	Order    uint64 `json:"order"`
	Quantity int32  `json:"quantity"`
	Seq      int64  `json:"seq"`
}

// OrderKey is the hash under which a hold records its order.
func OrderKey(orderID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(orderID))
	return h.Sum64()
}

// State is the ledger's table value for one SKU. It holds what is open (the on-hand count and
// the active holds, oldest first) and one number per source that recognises redelivered inputs,
// nothing that grows with history:
//   - a StockAdjusted carries a per-SKU version assigned in PostgreSQL; one not newer than
//     StockVersion is a redelivery (Debezium delivers at least once) and changes nothing;
//   - a HOLD for an order that already holds is answered again with the same hold; a HOLD sent
//     again after its hold was closed is granted as a new hold, and reservations releases it on
//     seeing a hold number it did not record (no list of closed orders is needed);
//   - a RELEASE or COMMIT applies only to the hold it names, so a copy, or one arriving after a
//     stale HOLD was granted again, never releases or deducts twice.
type State struct {
	OnHand       int64  `json:"on_hand"`
	StockVersion int64  `json:"stock_version,omitempty"`
	Holds        []Hold `json:"holds,omitempty"` // by Seq
}

// MarshalState implements streams.BinaryState.
func (s *State) MarshalState(w *streams.Writer) {
	w.Varint(s.OnHand)
	w.Varint(s.StockVersion)
	w.Uvarint(uint64(len(s.Holds)))
	var prev int64
	for _, h := range s.Holds {
		w.Fixed64(h.Order)
		w.Varint(int64(h.Quantity))
		w.Varint(h.Seq - prev)
		prev = h.Seq
	}
}

// UnmarshalState implements streams.BinaryState.
func (s *State) UnmarshalState(r *streams.Reader) {
	s.OnHand, s.StockVersion = r.Varint(), r.Varint()
	if n := r.Count(10); n > 0 {
		s.Holds = make([]Hold, n)
		var prev int64
		for i := range s.Holds {
			h := &s.Holds[i]
			h.Order, h.Quantity = r.Fixed64(), r.Int32()
			h.Seq = prev + r.Varint()
			prev = h.Seq
		}
	}
}

// UnmarshalJSON also reads the ledger as releases before the binary codec wrote it (holds as
// a map of order id to units); such holds carry no number and are closed by any RELEASE or
// COMMIT of their order.
func (s *State) UnmarshalJSON(data []byte) error {
	var v struct {
		OnHand       int64           `json:"on_hand"`
		StockVersion int64           `json:"stock_version"`
		Holds        json.RawMessage `json:"holds"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	s.OnHand, s.StockVersion, s.Holds = v.OnHand, v.StockVersion, nil
	if len(v.Holds) == 0 || string(v.Holds) == "null" {
		return nil
	}
	var legacy map[string]int32
	if err := json.Unmarshal(v.Holds, &legacy); err == nil {
		for _, order := range slices.Sorted(maps.Keys(legacy)) {
			s.Holds = append(s.Holds, Hold{Order: OrderKey(order), Quantity: legacy[order]})
		}
		return nil
	}
	return json.Unmarshal(v.Holds, &s.Holds)
}

// hold returns the index of order's hold, or -1.
func (s State) hold(order uint64) int {
	return slices.IndexFunc(s.Holds, func(h Hold) bool { return h.Order == order })
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
// A hold without a number (written before holds were numbered) is closed by any.
func closes(h Hold, seq int64) bool { return seq == 0 || h.Seq == 0 || h.Seq == seq }

// Decide is the stock ledger's pure decision function.
func Decide(t topology.Topology) streams.Decider[State] {
	reply := func(s State, e schemas.SkuCommand, granted bool, seq int64, msg streams.Message) streams.Emit {
		return streams.Emit{Topic: t.Out(topology.GroupInventory, t.SkuReplies()), Key: e.OrderID, Event: schemas.SkuReply{
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
			i := s.hold(OrderKey(e.OrderID))
			switch e.Op {
			case schemas.SkuOpHold:
				if i >= 0 {
					return nil, []streams.Emit{reply(s, e, true, s.Holds[i].Seq, msg)}, nil // answered again, same hold
				}
				if msg.Replay {
					// The hold this HOLD created is closed by now, or it was refused: either way
					// the order's reply was a refusal or has been answered; a refusal is sent again.
					return nil, []streams.Emit{reply(s, e, false, 0, msg)}, nil
				}
				if s.Available() < int64(e.Quantity) {
					return nil, []streams.Emit{reply(s, e, false, 0, msg)}, nil
				}
				h := Hold{Order: OrderKey(e.OrderID), Quantity: e.Quantity, Seq: msg.Offset + 1}
				s.Holds = append(slices.Clip(s.Holds), h)
				return &s, []streams.Emit{reply(s, e, true, h.Seq, msg)}, nil
			case schemas.SkuOpRelease, schemas.SkuOpCommit:
				if i < 0 || !closes(s.Holds[i], e.HoldSeq) {
					return nil, nil, nil // closed already, or names another hold
				}
				h := s.Holds[i]
				s.Holds = slices.Delete(slices.Clone(s.Holds), i, i+1)
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

// Spec is what the inventory ledger processor reads and writes.
func Spec(t topology.Topology) streams.Spec {
	return streams.Spec{Processor: topology.GroupInventory,
		Inputs:  []goka.Stream{t.StockEvents(), t.SkuCommands()},
		Outputs: []goka.Stream{t.SkuReplies()}}
}

// Group defines the inventory ledger processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupInventory, Decide(t), schemas.StockAdjusted{}, schemas.SkuCommand{})
	return streams.Define(t, Spec(t), TableCodec(), cb)
}
