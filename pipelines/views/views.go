// Package views serves reads of orderflow's tables: the order-status table (schemas.OrderStatus
// per order id), the inventory ledger (stock per SKU) and the returns orchestrator's table (the
// returns of each order id). Each is a goka view: a local copy of
// the table's compacted changelog, recovered at start and then kept up to date.
//
// Consumes: the group-table topics of order-status, inventory and returns. Keeps: the local copies, and
// the long polls waiting on an order's status (keyChanges, notify.go: per order id being waited
// on, a channel closed when the status view stores a new value of that id; nothing for other
// ids), and the subscribers to status changes (statusUpdates, subscribe.go: a bounded buffer each,
// a slow one misses updates). Emits: nothing to Kafka; the API and the board read through it, and
// Subscribe hands each stored status to its subscribers. Ready reports whether every copy is
// recovered. List, Summary, ListReturns and ListStock (list.go) iterate a whole local copy.
package views

import (
	"context"
	"errors"
	"fmt"

	"github.com/lovoo/goka"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/processors/inventory"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orderstatus"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Views holds the status, stock and returns views.
type Views struct {
	status        *goka.View
	statusChanges *keyChanges    // woken by the status view's updates; see WaitFor
	statusUpdates *statusUpdates // fed by the status view's updates; see Subscribe
	stock         *goka.View
	returns       *goka.View
}

// New creates the views of topology t (not yet running).
func New(brokers []string, t topology.Topology, serde *codec.Serde, stateDir string) (*Views, error) {
	// Tolerant codecs: a value that cannot be decoded is skipped by List and an error for
	// Status, never a stop of the view.
	status, err := newObservedStatusView(brokers, t.Table(topology.GroupOrderStatus), streams.Tolerant(orderstatus.TableCodec(serde)),
		streams.ViewOptions(brokers, string(t.Group(topology.GroupOrderStatus)), stateDir)...)
	if err != nil {
		return nil, fmt.Errorf("views: order-status: %w", err)
	}
	stock, err := goka.NewView(brokers, t.Table(topology.GroupInventory), streams.Tolerant(inventory.TableCodec()),
		streams.ViewOptions(brokers, string(t.Group(topology.GroupInventory)), stateDir)...)
	if err != nil {
		return nil, fmt.Errorf("views: inventory: %w", err)
	}
	rets, err := goka.NewView(brokers, t.Table(topology.GroupReturns), streams.Tolerant(returns.TableCodec()),
		streams.ViewOptions(brokers, string(t.Group(topology.GroupReturns)), stateDir)...)
	if err != nil {
		return nil, fmt.Errorf("views: returns: %w", err)
	}
	return &Views{status: status.view, statusChanges: status.changes, statusUpdates: status.updates, stock: stock, returns: rets}, nil
}

// observedStatusView is the status view with the two observers of what it stores.
type observedStatusView struct {
	view    *goka.View
	changes *keyChanges    // per-key wake-ups (WaitFor)
	updates *statusUpdates // every change, decoded (Subscribe)
}

// newObservedStatusView creates the status view with opts; every value it stores is announced to
// its keyChanges (which WaitFor sleeps on) and, once the view has recovered, published decoded
// with c to its statusUpdates (which Subscribe reads).
func newObservedStatusView(brokers []string, table goka.Table, c goka.Codec, opts ...goka.ViewOption) (observedStatusView, error) {
	changes, updates := newKeyChanges(), newStatusUpdates(c)
	opts = append(opts[:len(opts):len(opts)], goka.WithViewCallback(storeNotifyAndPublish(changes, updates)))
	view, err := goka.NewView(brokers, table, c, opts...)
	if err != nil {
		return observedStatusView{}, err
	}
	updates.recovered = view.Recovered
	return observedStatusView{view: view, changes: changes, updates: updates}, nil
}

// newStatusView is newObservedStatusView without its subscribers (the tests of notify.go build
// their view with it).
func newStatusView(brokers []string, table goka.Table, c goka.Codec, opts ...goka.ViewOption) (*goka.View, *keyChanges, error) {
	v, err := newObservedStatusView(brokers, table, c, opts...)
	return v.view, v.changes, err
}

// Run runs the views until ctx ends.
func (v *Views) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, view := range []*goka.View{v.status, v.stock, v.returns} {
		g.Go(func() error {
			err := view.Run(ctx)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	return g.Wait()
}

// Ready reports whether every view has recovered its table.
func (v *Views) Ready() bool {
	return v.status.Recovered() && v.stock.Recovered() && v.returns.Recovered()
}

// Returns returns the returns of an order; ok is false when the order has none.
func (v *Views) Returns(orderID string) (returns.State, bool, error) {
	val, err := v.returns.Get(orderID)
	if err != nil || val == nil {
		return returns.State{}, false, err
	}
	if cv, ok := val.(streams.CorruptValue); ok {
		return returns.State{}, false, fmt.Errorf("views: returns of %s: %w", orderID, cv.Err)
	}
	return val.(streams.Envelope[returns.State]).State, true, nil
}

// Status returns the status of an order; ok is false when the table has no entry for it.
func (v *Views) Status(orderID string) (schemas.OrderStatus, bool, error) {
	val, err := v.status.Get(orderID)
	if err != nil || val == nil {
		return schemas.OrderStatus{}, false, err
	}
	if cv, ok := val.(streams.CorruptValue); ok {
		return schemas.OrderStatus{}, false, fmt.Errorf("views: status of %s: %w", orderID, cv.Err)
	}
	return val.(schemas.OrderStatus), true, nil
}

// List returns up to limit orders with the given status ("" for any), in key order.
func (v *Views) List(status schemas.Status, limit int) ([]schemas.OrderStatus, error) {
	it, err := v.status.Iterator()
	if err != nil {
		return nil, err
	}
	defer it.Release()
	var out []schemas.OrderStatus
	for it.Next() && len(out) < limit {
		val, err := it.Value()
		if err != nil {
			return nil, err
		}
		s, ok := val.(schemas.OrderStatus)
		if ok && (status == "" || s.Status == status) {
			out = append(out, s)
		}
	}
	return out, it.Err()
}

// Stock is the inventory of one SKU.
type Stock struct {
	SKU       string `json:"sku"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	OnHand    int64  `json:"on_hand"`
}

// Stock returns the stock of a SKU (all zero for a SKU never set).
func (v *Views) Stock(sku string) (Stock, error) {
	val, err := v.stock.Get(sku)
	if err != nil {
		return Stock{}, err
	}
	if cv, ok := val.(streams.CorruptValue); ok {
		return Stock{}, fmt.Errorf("views: stock of %s: %w", sku, cv.Err)
	}
	env, _ := val.(streams.Envelope[inventory.State])
	return stockOf(sku, env.State), nil
}

func stockOf(sku string, st inventory.State) Stock {
	return Stock{SKU: sku, Available: st.Available(), Reserved: st.Held(), OnHand: st.OnHand}
}

// WaitFor returns once match accepts the order's status, or when ctx ends (with ctx's error),
// with the last status seen. It reads the status, and while match refuses it sleeps until the
// status view stores a new value for the order (a notice of keyChanges), then reads again; it
// never polls. Its watch is registered before each read, so a change landing between the read
// and the sleep still wakes it, and removed before it returns.
func (v *Views) WaitFor(ctx context.Context, orderID string, match func(schemas.OrderStatus) bool) (schemas.OrderStatus, bool, error) {
	for {
		changed, stop := v.statusChanges.watch(orderID)
		s, ok, err := v.Status(orderID)
		if err != nil {
			stop()
			return s, ok, err
		}
		if ok && match(s) {
			stop()
			return s, true, nil
		}
		select {
		case <-ctx.Done():
			stop()
			return s, ok, ctx.Err()
		case <-changed:
			stop()
		}
	}
}
