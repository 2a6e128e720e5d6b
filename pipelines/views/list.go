package views

import (
	"container/heap"
	"fmt"
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/inventory"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/schemas"
)

// The reads of a whole view: each iterates every value of the local copy once (no Kafka), so
// its cost grows with the table; callers polling them (the board) cache their answers. Memory is
// bounded by the answer: the top entries are kept in a heap of the limit's size, never the table.

// Summary is the order-status table counted: orders per status, terminal orders per outcome,
// and the most recently changed orders.
type Summary struct {
	Total    int
	Statuses map[schemas.Status]int
	// Outcomes counts terminal orders by Outcome: "SHIPPED", "CANCELLED/<reason>".
	Outcomes map[string]int
	// Recent are the most recently changed orders (by UpdatedAt), newest first.
	Recent []schemas.OrderStatus
	// Corrupt counts values that could not be decoded (left out of everything else).
	Corrupt int
}

// Outcome names how a terminal order ended: "SHIPPED", or "CANCELLED/<reason>" (UNKNOWN for a
// cancellation without a reason); "" for an order not yet terminal.
func Outcome(s schemas.OrderStatus) string {
	switch s.Status {
	case schemas.StatusShipped:
		return string(schemas.StatusShipped)
	case schemas.StatusCancelled:
		reason := schemas.CancelUnknown
		if s.Reason != nil && *s.Reason != "" {
			reason = *s.Reason
		}
		return string(schemas.StatusCancelled) + "/" + string(reason)
	}
	return ""
}

// UpdatedAt is when the order last changed: the time of its last history entry (the history is
// kept in time order); zero for an order without history.
func UpdatedAt(s schemas.OrderStatus) time.Time {
	if n := len(s.History); n > 0 {
		return s.History[n-1].At
	}
	return time.Time{}
}

// summarizer counts statuses one at a time (Summary's loop, apart from the view for its tests).
type summarizer struct {
	sum    Summary
	recent *topK[schemas.OrderStatus]
}

func newSummarizer(recent int) *summarizer {
	return &summarizer{
		sum: Summary{Statuses: map[schemas.Status]int{}, Outcomes: map[string]int{}},
		recent: newTopK(recent, func(a, b schemas.OrderStatus) bool {
			ta, tb := UpdatedAt(a), UpdatedAt(b)
			if !ta.Equal(tb) {
				return ta.After(tb)
			}
			return a.OrderID < b.OrderID
		}),
	}
}

func (z *summarizer) add(s schemas.OrderStatus) {
	z.sum.Total++
	z.sum.Statuses[s.Status]++
	if o := Outcome(s); o != "" {
		z.sum.Outcomes[o]++
	}
	s.AppliedEventIDs, s.Changes = nil, nil // not served; the recent entries are kept a while
	z.recent.offer(s)
}

func (z *summarizer) result() Summary {
	z.sum.Recent = z.recent.sorted()
	return z.sum
}

// Summary counts the status table; Recent holds its recent orders changed last.
func (v *Views) Summary(recent int) (Summary, error) {
	z := newSummarizer(recent)
	err := eachValue(v.status, func(_ string, val any) {
		if s, ok := val.(schemas.OrderStatus); ok {
			z.add(s)
		} else {
			z.sum.Corrupt++
		}
	})
	if err != nil {
		return Summary{}, fmt.Errorf("views: summary of the status table: %w", err)
	}
	return z.result(), nil
}

// OrderReturn is one return with its order.
type OrderReturn struct {
	OrderID string
	Return  returns.Return
}

// UpdatedAt is when the return last changed: the time of its last step; zero without one.
func (r OrderReturn) UpdatedAt() time.Time {
	var last time.Time
	for _, h := range r.Return.History {
		if h.At.After(last) {
			last = h.At
		}
	}
	return last
}

// ListReturns returns up to limit returns of every order, most recently changed first. A value
// that cannot be decoded is left out.
func (v *Views) ListReturns(limit int) ([]OrderReturn, error) {
	top := newTopK(limit, func(a, b OrderReturn) bool {
		ta, tb := a.UpdatedAt(), b.UpdatedAt()
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
		return a.Return.ID < b.Return.ID
	})
	err := eachValue(v.returns, func(orderID string, val any) {
		env, ok := val.(streams.Envelope[returns.State])
		if !ok {
			return
		}
		for _, r := range env.State.Returns {
			top.offer(OrderReturn{OrderID: orderID, Return: r})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("views: list of the returns table: %w", err)
	}
	return top.sorted(), nil
}

// ListStock returns the stock of up to limit SKUs, the first by SKU. A value that cannot be
// decoded is left out.
func (v *Views) ListStock(limit int) ([]Stock, error) {
	top := newTopK(limit, func(a, b Stock) bool { return strings.Compare(a.SKU, b.SKU) < 0 })
	err := eachValue(v.stock, func(sku string, val any) {
		if env, ok := val.(streams.Envelope[inventory.State]); ok {
			top.offer(stockOf(sku, env.State))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("views: list of the inventory table: %w", err)
	}
	return top.sorted(), nil
}

// eachValue calls fn with every key and decoded value of view (nil values, i.e. deletions not
// yet compacted, skipped).
func eachValue(view *goka.View, fn func(key string, val any)) error {
	it, err := view.Iterator()
	if err != nil {
		return err
	}
	defer it.Release()
	for it.Next() {
		val, err := it.Value()
		if err != nil {
			return fmt.Errorf("value of %q: %w", it.Key(), err)
		}
		if val != nil {
			fn(it.Key(), val)
		}
	}
	return it.Err()
}

// topK keeps the k first items offered in the order of before (before(a, b): a comes first).
// It holds at most k items: a heap whose root is the last kept one, replaced when a better one
// comes.
type topK[T any] struct {
	k      int
	before func(a, b T) bool
	items  []T
}

func newTopK[T any](k int, before func(a, b T) bool) *topK[T] {
	return &topK[T]{k: max(0, k), before: before}
}

func (t *topK[T]) offer(x T) {
	if t.k == 0 {
		return
	}
	if len(t.items) < t.k {
		heap.Push((*topKHeap[T])(t), x)
		return
	}
	if t.before(x, t.items[0]) {
		t.items[0] = x
		heap.Fix((*topKHeap[T])(t), 0)
	}
}

// sorted returns the kept items in order (and empties t).
func (t *topK[T]) sorted() []T {
	out := make([]T, len(t.items))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop((*topKHeap[T])(t)).(T)
	}
	return out
}

// topKHeap is topK as a heap.Interface: a max-heap in the order of before (the root is the item
// that comes last).
type topKHeap[T any] topK[T]

func (h *topKHeap[T]) Len() int           { return len(h.items) }
func (h *topKHeap[T]) Less(i, j int) bool { return h.before(h.items[j], h.items[i]) }
func (h *topKHeap[T]) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *topKHeap[T]) Push(x any)         { h.items = append(h.items, x.(T)) }
func (h *topKHeap[T]) Pop() any {
	n := len(h.items) - 1
	x := h.items[n]
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	return x
}
