package views

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/orderflow/orderflow/processors/inventory"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orderstatus"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// tables names the tester's tables of the three views.
type tables struct{ status, stock, returns goka.Table }

// viewsInTester runs the three views as New builds them (the status view with its observers) in
// goka's tester (no Kafka).
func viewsInTester(t *testing.T) (*Views, *tester.Tester, tables) {
	t.Helper()
	serde, err := codec.NewInMemory()
	if err != nil {
		t.Fatal(err)
	}
	tt := tester.New(t)
	topo := topology.Default()
	tb := tables{status: topo.Table(topology.GroupOrderStatus), stock: topo.Table(topology.GroupInventory), returns: topo.Table(topology.GroupReturns)}
	opts := []goka.ViewOption{goka.WithViewTester(tt), goka.WithViewHasher(streams.Hasher())}
	status, err := newObservedStatusView(nil, tb.status, streams.Tolerant(orderstatus.TableCodec(serde)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	stock, err := goka.NewView(nil, tb.stock, streams.Tolerant(inventory.TableCodec()), opts...)
	if err != nil {
		t.Fatal(err)
	}
	rets, err := goka.NewView(nil, tb.returns, streams.Tolerant(returns.TableCodec()), opts...)
	if err != nil {
		t.Fatal(err)
	}
	v := &Views{status: status.view, statusChanges: status.changes, statusUpdates: status.updates, stock: stock, returns: rets}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("views: %v", err)
		}
	})
	waitUntil(t, "views recovered", v.Ready)
	return v, tt, tb
}

func receive(t *testing.T, ch <-chan schemas.OrderStatus) schemas.OrderStatus {
	t.Helper()
	select {
	case st, ok := <-ch:
		if !ok {
			t.Fatal("updates closed, want an update")
		}
		return st
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	return schemas.OrderStatus{}
}

// Every status the view stores reaches every subscriber, decoded; a deletion is not announced;
// cancel closes the subscriber's channel and removes it.
func TestSubscribeDeliversEveryStoredStatus(t *testing.T) {
	v, tt, tb := viewsInTester(t)
	first, cancelFirst := v.Subscribe()
	second, cancelSecond := v.Subscribe()
	defer cancelSecond()

	tt.Consume(string(tb.status), "o-1", schemas.OrderStatus{OrderID: "o-1", Status: schemas.StatusPlaced, Version: 1})
	tt.Consume(string(tb.status), "o-1", nil)
	tt.Consume(string(tb.status), "o-2", schemas.OrderStatus{OrderID: "o-2", Status: schemas.StatusShipped, Version: 3})
	for _, ch := range []<-chan schemas.OrderStatus{first, second} {
		if st := receive(t, ch); st.OrderID != "o-1" || st.Status != schemas.StatusPlaced {
			t.Errorf("first update %+v, want o-1 PLACED", st)
		}
		if st := receive(t, ch); st.OrderID != "o-2" || st.Status != schemas.StatusShipped || st.Version != 3 {
			t.Errorf("second update %+v, want o-2 SHIPPED version 3 (the deletion of o-1 is not announced)", st)
		}
	}

	cancelFirst()
	cancelFirst() // idempotent
	if _, ok := <-first; ok {
		t.Error("a cancelled subscriber's channel is still open")
	}
	if n := v.statusUpdates.subscriberCount(); n != 1 {
		t.Errorf("%d subscribers after one cancelled, want 1", n)
	}
	tt.Consume(string(tb.status), "o-3", schemas.OrderStatus{OrderID: "o-3", Status: schemas.StatusPlaced, Version: 1})
	if st := receive(t, second); st.OrderID != "o-3" {
		t.Errorf("update %+v after the other subscriber cancelled, want o-3", st)
	}
}

// A subscriber that does not read misses updates beyond its buffer; the view goes on storing
// (and waking WaitFor) and the other subscribers get every update.
func TestSlowSubscriberDropsInsteadOfBlocking(t *testing.T) {
	v, tt, tb := viewsInTester(t)
	slow, cancelSlow := v.Subscribe() // never read until the end
	defer cancelSlow()
	fast, cancelFast := v.Subscribe()
	defer cancelFast()

	n := SubscriberBuffer + 50
	// the reading subscriber acknowledges each update and the next is stored only then: it
	// keeps up (a reader slower than the updates would drop some too, which is the point of
	// the other subscriber)
	read := make(chan int)
	go func() {
		count := 0
		for range fast {
			count++
			read <- count
			if count == n {
				return
			}
		}
	}()
	done := make(chan struct{})
	var got int
	go func() {
		defer close(done)
		for i := range n {
			tt.Consume(string(tb.status), "o-1", schemas.OrderStatus{OrderID: "o-1", Status: schemas.StatusPlaced, Version: int64(i + 1)})
			select {
			case got = <-read:
			case <-time.After(5 * time.Second):
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the view blocked on a subscriber that does not read")
	}
	if st, found, err := v.Status("o-1"); err != nil || !found || st.Version != int64(n) {
		t.Fatalf("o-1 stored as %+v (found %v, err %v), want version %d", st, found, err, n)
	}
	if got != n {
		t.Errorf("the reading subscriber got %d updates, want %d", got, n)
	}
	if len(slow) != SubscriberBuffer {
		t.Errorf("the slow subscriber holds %d updates, want its buffer (%d) full", len(slow), SubscriberBuffer)
	}
	if d := v.statusUpdates.dropped.Load(); d != 50 {
		t.Errorf("%d updates dropped, want 50", d)
	}
	// what it holds are the oldest updates: it missed the newest, it did not see them reordered
	if st := <-slow; st.Version != 1 {
		t.Errorf("the slow subscriber's first update is version %d, want 1", st.Version)
	}
}

// Views built without observers (as notify.go's tests build them) hand out a silent channel.
func TestSubscribeWithoutObserverIsSilent(t *testing.T) {
	v := &Views{}
	ch, cancel := v.Subscribe()
	defer cancel()
	select {
	case st := <-ch:
		t.Fatalf("got %+v from views without a status view", st)
	default:
	}
}
