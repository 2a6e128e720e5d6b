package inventory

import (
	"maps"
	"slices"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/pipelines/streams"
	"github.com/orderflow/orderflow/pipelines/topology"
	"github.com/orderflow/orderflow/schemas"
)

// recentIDs bounds the per-SKU memory of applied event ids: it guards stock adjustments against
// redelivery.
const recentIDs = 64

// closedKept bounds the per-SKU memory of orders whose hold was released or committed. After a
// crash, reservations may send an order's HOLD again after its RELEASE or COMMIT; a closed order's
// HOLD grants nothing (no phantom hold) and its COMMIT deducts nothing twice. The memory must
// cover the commands a SKU receives between a crash and the redelivery (seconds at our rates).
const closedKept = 4096

// State is the ledger's table value for one SKU.
type State struct {
	OnHand int64            `json:"on_hand"`
	Holds  map[string]int32 `json:"holds,omitempty"`  // order id → units held
	Closed []string         `json:"closed,omitempty"` // orders released or committed, oldest first
	Recent []string         `json:"recent,omitempty"`
}

func (s *State) close(order string) {
	s.Closed = append(s.Closed, order)
	if len(s.Closed) > closedKept {
		s.Closed = s.Closed[len(s.Closed)-closedKept:]
	}
}

// Held is the number of units held for orders.
func (s State) Held() int64 {
	var n int64
	for _, q := range s.Holds {
		n += int64(q)
	}
	return n
}

// Available is on hand minus held.
func (s State) Available() int64 { return s.OnHand - s.Held() }

// Decide is the stock ledger's pure decision function.
func Decide(t topology.Topology) streams.Decider[State] {
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = *state
			s.Holds = maps.Clone(state.Holds)
			s.Closed = slices.Clone(state.Closed)
			s.Recent = slices.Clone(state.Recent)
		}
		id := ev.Metadata().EventID
		if slices.Contains(s.Recent, id) {
			return nil, nil, nil
		}
		var emits []streams.Emit
		switch e := ev.(type) {
		case schemas.StockAdjusted:
			if e.SKU == "" || e.SKU != msg.Key {
				return nil, nil, streams.Rejectf("StockAdjusted for SKU %q arrived under key %q", e.SKU, msg.Key)
			}
			if e.Available < 0 {
				return nil, nil, streams.Rejectf("StockAdjusted %s: available %d < 0", e.SKU, e.Available)
			}
			s.OnHand = e.Available
		case schemas.SkuCommand:
			if e.SKU != msg.Key || e.OrderID == "" || e.Quantity <= 0 {
				return nil, nil, streams.Rejectf("SkuCommand %s for SKU %q order %q quantity %d under key %q", e.Op, e.SKU, e.OrderID, e.Quantity, msg.Key)
			}
			if s.Holds == nil {
				s.Holds = map[string]int32{}
			}
			switch e.Op {
			case schemas.SkuOpHold:
				granted := true
				if slices.Contains(s.Closed, e.OrderID) {
					granted = false // a stale HOLD sent again after the order's hold was closed
				} else if _, held := s.Holds[e.OrderID]; !held {
					granted = s.Available() >= int64(e.Quantity)
					if granted {
						s.Holds[e.OrderID] = e.Quantity
					}
				}
				emits = append(emits, streams.Emit{Topic: t.SkuReplies(), Key: e.OrderID, Event: schemas.SkuReply{
					Meta:    streams.Meta("SkuReply", e.Meta, e.OrderID, msg.Timestamp, ""),
					OrderID: e.OrderID, SKU: e.SKU, Op: e.Op, Quantity: e.Quantity, Granted: granted, Available: s.Available(),
				}})
			case schemas.SkuOpRelease:
				if _, held := s.Holds[e.OrderID]; held {
					delete(s.Holds, e.OrderID)
					s.close(e.OrderID)
				}
			case schemas.SkuOpCommit:
				if q, held := s.Holds[e.OrderID]; held {
					s.OnHand -= int64(q)
					delete(s.Holds, e.OrderID)
					s.close(e.OrderID)
				}
			default:
				return nil, nil, streams.Rejectf("SkuCommand with unknown op %q", e.Op)
			}
		default:
			return nil, nil, nil
		}
		s.Recent = append(s.Recent, id)
		if len(s.Recent) > recentIDs {
			s.Recent = s.Recent[len(s.Recent)-recentIDs:]
		}
		return &s, emits, nil
	}
}

// Group defines the inventory ledger processor.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupInventory, Decide(t))
	return streams.DefineGroup(t.Group(topology.GroupInventory), streams.JSONCodec[streams.Envelope[State]]{}, cb,
		[]goka.Stream{t.StockEvents(), t.SkuCommands()},
		t.SkuReplies())
}
