package inventory

import (
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

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
// the active holds, oldest first) and what recognises redelivered inputs, nothing that grows with
// history (the return restocks of the last RestockMemory only):
//   - a StockAdjusted carries a per-SKU version assigned in PostgreSQL; one not newer than
//     StockVersion is a redelivery (Debezium delivers at least once) and changes nothing;
//   - a HOLD for an order that already holds is answered again with the same hold; a HOLD sent
//     again after its hold was closed is granted as a new hold, and reservations releases it on
//     seeing a hold number it did not record (no list of closed orders is needed);
//   - a RELEASE or COMMIT applies only to the hold it names, so a copy, or one arriving after a
//     stale HOLD was granted again, never releases or deducts twice;
//   - a RestockReturn is applied once per (order, return, SKU): Restocks lists the restocks
//     applied, each kept for the restock memory (RestockMemory) after its command occurred, so a
//     copy or retry is recognised and answered again. A command older than the memory reaches
//     back is refused rather than risk a second application; RestocksKeptSince is how far back
//     the list is complete once entries were dropped (restocks that occurred before it may have
//     been forgotten), so the ledger never forgets a restock it would still take a copy of.
type State struct {
	OnHand       int64  `json:"on_hand"`
	StockVersion int64  `json:"stock_version,omitempty"`
	Holds        []Hold `json:"holds,omitempty"` // by Seq
	// The return restocks applied within the restock memory, oldest applied first.
	Restocks []Restock `json:"restocks,omitempty"`
	// RestocksKeptSince (Unix ms; 0: nothing forgotten yet) is the time since when Restocks
	// holds every restock applied: a restock that occurred before it is refused.
	RestocksKeptSince int64 `json:"restocks_kept_since,omitempty"`
}

// Restock is a return restock the ledger applied: the key of its order and return (RestockKey)
// and when its command occurred (Unix ms; the returns orchestrator keeps it constant across the
// retries of one step, so a retry is recognised).
type Restock struct {
	Key uint64 `json:"key"`
	At  int64  `json:"at"`
}

// RestockKey is the hash under which the ledger records the restock of a return of an order on
// its SKU (as OrderKey, of "<order id>/<return id>").
func RestockKey(orderID, returnID string) uint64 { return OrderKey(orderID + "/" + returnID) }

// DefaultRestockMemory is how long the ledger remembers a return restock it applied: far longer
// than the returns orchestrator retries one step.
const DefaultRestockMemory = 7 * 24 * time.Hour

// RestockMemory is DefaultRestockMemory unless ORDERFLOW_RESTOCK_MEMORY (a Go duration) says
// otherwise.
func RestockMemory() time.Duration {
	if v := os.Getenv("ORDERFLOW_RESTOCK_MEMORY"); v != "" {
		d, err := time.ParseDuration(v)
		if err == nil && d > 0 {
			return d
		}
		slog.Warn("ORDERFLOW_RESTOCK_MEMORY is not a positive duration; using the default", "value", v, "default", DefaultRestockMemory)
	}
	return DefaultRestockMemory
}

// restocked reports whether the restock of key was applied (and is still remembered).
func (s State) restocked(key uint64) bool {
	return slices.ContainsFunc(s.Restocks, func(r Restock) bool { return r.Key == key })
}

// memoryStart is the time (Unix ms) since when the ledger knows every restock it applied, as of
// now (a zero now, as in goka's tester, refuses nothing by age): a restock that occurred before
// it may have been forgotten. 0 when nothing can have been: then none is refused by age.
func (s State) memoryStart(now time.Time, memory time.Duration) int64 {
	if now.IsZero() {
		return s.RestocksKeptSince
	}
	return max(s.RestocksKeptSince, now.Add(-memory).UnixMilli())
}

// forgetRestocks drops the restocks that occurred more than memory before now (a zero now drops
// nothing) and records how far back the list stays complete. Restocks is replaced, never
// changed in place: it may be shared with the state the decision started from.
func (s *State) forgetRestocks(now time.Time, memory time.Duration) {
	if now.IsZero() {
		return
	}
	cutoff := now.Add(-memory).UnixMilli()
	old := func(r Restock) bool { return r.At < cutoff }
	if !slices.ContainsFunc(s.Restocks, old) {
		return
	}
	s.Restocks = slices.DeleteFunc(slices.Clone(s.Restocks), old)
	if len(s.Restocks) == 0 {
		s.Restocks = nil
	}
	s.RestocksKeptSince = max(s.RestocksKeptSince, cutoff)
}

// MarshalState implements streams.BinaryState. The restocks, added for returns, come last and
// only when there are any or some were forgotten: a value without them is the earlier layout,
// which any release reads (and the stock view, through TableCodec).
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
	if len(s.Restocks) == 0 && s.RestocksKeptSince == 0 {
		return
	}
	w.Varint(s.RestocksKeptSince)
	w.Uvarint(uint64(len(s.Restocks)))
	for _, r := range s.Restocks {
		w.Fixed64(r.Key)
		w.Varint(r.At)
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
	if r.More() { // written since return restocks
		s.RestocksKeptSince = r.Varint()
		if n := r.Count(9); n > 0 {
			s.Restocks = make([]Restock, n)
			for i := range s.Restocks {
				s.Restocks[i] = Restock{Key: r.Fixed64(), At: r.Varint()}
			}
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

// Decide is the stock ledger's pure decision function, remembering return restocks for the
// RestockMemory of the environment (read once, here).
func Decide(t topology.Topology) streams.Decider[State] { return DecideRemembering(t, RestockMemory()) }

// DecideRemembering is Decide remembering the return restocks it applied for memory: every
// state it writes has forgotten those that occurred longer ago than memory before the input's
// record time.
func DecideRemembering(t topology.Topology, memory time.Duration) streams.Decider[State] {
	decide := ledger(t, memory)
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		next, emits, err := decide(state, ev, msg)
		if next != nil {
			next.forgetRestocks(msg.Timestamp, memory)
		}
		return next, emits, err
	}
}

// ledger is the decision before old restocks are forgotten.
func ledger(t topology.Topology, memory time.Duration) streams.Decider[State] {
	// restocked answers a RestockReturn: its event id derives from the order, return and SKU
	// alone (cause "restock/<order id>/<return id>/<SKU>"), so every copy and retry, and the
	// replay of any, is answered under the same id; the causation id names the command answered.
	restocked := func(s State, e schemas.RestockReturn, msg streams.Message) streams.Emit {
		meta := streams.Meta("ReturnRestocked", schemas.Metadata{EventID: "restock/" + e.OrderID + "/" + e.ReturnID + "/" + e.SKU,
			CorrelationID: e.Meta.CorrelationID}, e.OrderID, msg.Timestamp, "")
		commandID := e.Meta.EventID
		meta.CausationID = &commandID
		return streams.Emit{Topic: t.Out(topology.GroupInventory, t.ReturnReplies()), Key: e.OrderID, Event: schemas.ReturnRestocked{
			Meta: meta, OrderID: e.OrderID, ReturnID: e.ReturnID, SKU: e.SKU, Quantity: e.Quantity, Available: s.Available(),
		}}
	}
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
		case schemas.RestockReturn:
			if e.SKU == "" || e.SKU != msg.Key || e.OrderID == "" || e.ReturnID == "" || e.Quantity < 1 || e.Quantity > schemas.MaxQuantity {
				return nil, nil, streams.Rejectf("RestockReturn of return %q order %q for SKU %q quantity %d under key %q",
					e.ReturnID, e.OrderID, e.SKU, e.Quantity, msg.Key)
			}
			key := RestockKey(e.OrderID, e.ReturnID)
			if s.restocked(key) {
				return nil, []streams.Emit{restocked(s, e, msg)}, nil // a copy or retry: answered again
			}
			occurred := e.Meta.OccurredAt.UnixMilli()
			if start := s.memoryStart(msg.Timestamp, memory); start != 0 && occurred < start {
				// It may have been applied and forgotten since: applying it could count it twice.
				return nil, nil, streams.Rejectf("restock of return %s older than the ledger's memory (%s): not applied; check the SKU and apply by hand",
					e.ReturnID, memory)
			}
			if msg.Replay {
				return nil, nil, nil // not recorded: the input was refused
			}
			s.OnHand += int64(e.Quantity)
			s.Restocks = append(slices.Clip(s.Restocks), Restock{Key: key, At: occurred})
			return &s, []streams.Emit{restocked(s, e, msg)}, nil
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
		Outputs: []goka.Stream{t.SkuReplies(), t.ReturnReplies()}}
}

// Accepts lists the event types the inventory ledger acts on; the others on its inputs are
// passed over undecoded.
var Accepts = []schemas.Event{schemas.StockAdjusted{}, schemas.SkuCommand{}, schemas.RestockReturn{}}

// Group defines the inventory ledger processor, with the RestockMemory of the environment.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupInventory, Decide(t), Accepts...)
	return streams.Define(t, Spec(t), TableCodec(), cb)
}
