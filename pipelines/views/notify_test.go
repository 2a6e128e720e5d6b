package views

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orderstatus"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A change of a key closes the channel of every waiter of that key, and of no other key; the
// key's entry goes with the change.
func TestKeyChangesWakesTheChangedKeyOnly(t *testing.T) {
	c := newKeyChanges()
	a1, stopA1 := c.watch("a")
	a2, stopA2 := c.watch("a")
	b, stopB := c.watch("b")
	if a1 != a2 {
		t.Error("two waiters of one key got different channels")
	}
	if n := c.watchedKeys(); n != 2 {
		t.Fatalf("%d keys watched, want 2", n)
	}

	c.changed("c") // nobody waits on c
	c.changed("a")
	if !closed(a1) || !closed(a2) {
		t.Error("a changed, its waiters were not woken")
	}
	if closed(b) {
		t.Error("a changed, the waiter of b was woken")
	}
	if n := c.watchedKeys(); n != 1 {
		t.Errorf("%d keys watched after a changed, want 1 (b)", n)
	}

	// the stops of woken waiters undo nothing, and a new watch of a waits for the next change
	stopA1()
	stopA2()
	a3, stopA3 := c.watch("a")
	if closed(a3) {
		t.Error("a watch after a change starts closed")
	}
	c.changed("b")
	if !closed(b) || closed(a3) {
		t.Errorf("b changed: b woken %v, a woken %v; want true, false", closed(b), closed(a3))
	}
	stopB()
	stopA3()
	if n := c.watchedKeys(); n != 0 {
		t.Errorf("%d keys still watched after every waiter stopped", n)
	}
}

// stop removes a waiter that was never woken; the key's entry goes with its last waiter, and a
// second stop of the same watch does not take another waiter's place.
func TestKeyChangesStopRemovesTheWaiter(t *testing.T) {
	c := newKeyChanges()
	ch1, stop1 := c.watch("k")
	_, stop2 := c.watch("k")
	stop1()
	stop1() // idempotent: the other waiter stays registered
	if n := c.watchedKeys(); n != 1 {
		t.Fatalf("%d keys watched with one waiter left, want 1", n)
	}
	stop2()
	if n := c.watchedKeys(); n != 0 {
		t.Fatalf("%d keys watched after both stopped, want 0", n)
	}
	c.changed("k")
	if closed(ch1) {
		t.Error("a stopped waiter's channel was closed by a later change")
	}
}

// statusViewInTester runs a status view built by newStatusView in goka's tester (no Kafka) and
// returns Views reading it.
func statusViewInTester(t *testing.T) (*Views, *tester.Tester, goka.Table) {
	t.Helper()
	serde, err := codec.NewInMemory()
	if err != nil {
		t.Fatal(err)
	}
	tt := tester.New(t)
	table := topology.Default().Table(topology.GroupOrderStatus)
	view, changes, err := newStatusView(nil, table, streams.Tolerant(orderstatus.TableCodec(serde)),
		goka.WithViewTester(tt), goka.WithViewHasher(streams.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- view.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("view: %v", err)
		}
	})
	for deadline := time.Now().Add(5 * time.Second); !view.Recovered(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("view not recovered after 5s")
		}
	}
	return &Views{status: view, statusChanges: changes}, tt, table
}

type waitResult struct {
	st    schemas.OrderStatus
	found bool
	err   error
}

func waitInBackground(ctx context.Context, v *Views, id string, match func(schemas.OrderStatus) bool) <-chan waitResult {
	out := make(chan waitResult, 1)
	go func() {
		st, found, err := v.WaitFor(ctx, id, match)
		out <- waitResult{st, found, err}
	}()
	return out
}

// waitUntil fails the test unless cond holds within 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
	}
}

func shipped(st schemas.OrderStatus) bool { return st.Status == schemas.StatusShipped }

// WaitFor wakes when the view stores the order's status: not for another order, not for a
// status match refuses (it waits on), and it returns the stored value once match accepts it.
// The view still stores (and deletes) values as goka's default callback would.
func TestWaitForWakesOnTheOrdersChange(t *testing.T) {
	v, tt, table := statusViewInTester(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res := waitInBackground(ctx, v, "o-1", shipped)
	waitUntil(t, "WaitFor watches o-1", func() bool { return v.statusChanges.watchedKeys() == 1 })

	tt.Consume(string(table), "o-2", schemas.OrderStatus{OrderID: "o-2", Status: schemas.StatusShipped, Version: 1})
	tt.Consume(string(table), "o-1", schemas.OrderStatus{OrderID: "o-1", Status: schemas.StatusPlaced, Version: 1})
	select {
	case r := <-res:
		t.Fatalf("WaitFor returned before o-1 was shipped: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	if st, found, err := v.Status("o-2"); err != nil || !found || st.Status != schemas.StatusShipped {
		t.Fatalf("o-2 not stored by the callback: %+v %v %v", st, found, err)
	}

	tt.Consume(string(table), "o-1", schemas.OrderStatus{OrderID: "o-1", Status: schemas.StatusShipped, Version: 2})
	select {
	case r := <-res:
		if r.err != nil || !r.found || r.st.Status != schemas.StatusShipped || r.st.Version != 2 {
			t.Fatalf("WaitFor returned %+v, want o-1 SHIPPED version 2", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor still waiting 5s after o-1 was shipped")
	}
	if n := v.statusChanges.watchedKeys(); n != 0 {
		t.Errorf("%d keys still watched after WaitFor returned", n)
	}

	tt.Consume(string(table), "o-2", nil) // a tombstone deletes, as goka.DefaultUpdate does
	if _, found, err := v.Status("o-2"); err != nil || found {
		t.Errorf("o-2 after its tombstone: found %v, err %v; want deleted", found, err)
	}
	// a status that already matches returns without waiting
	if st, found, err := v.WaitFor(ctx, "o-1", shipped); err != nil || !found || st.Status != schemas.StatusShipped {
		t.Errorf("WaitFor on a shipped order: %+v %v %v", st, found, err)
	}
}

// WaitFors whose context ends return its error, leave no watch behind and no goroutine.
func TestWaitForCancelledLeavesNothingBehind(t *testing.T) {
	v, tt, table := statusViewInTester(t)
	tt.Consume(string(table), "o-1", schemas.OrderStatus{OrderID: "o-1", Status: schemas.StatusPlaced, Version: 1})
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	var results []<-chan waitResult
	for i := range 50 {
		id := "o-1"
		if i%2 == 1 {
			id = "o-unknown"
		}
		results = append(results, waitInBackground(ctx, v, id, shipped))
	}
	waitUntil(t, "50 WaitFors watch 2 keys", func() bool { return v.statusChanges.watchedKeys() == 2 })
	cancel()
	for _, res := range results {
		select {
		case r := <-res:
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("cancelled WaitFor returned %+v, want context.Canceled", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a WaitFor still waiting 5s after its context was cancelled")
		}
	}
	if n := v.statusChanges.watchedKeys(); n != 0 {
		t.Errorf("%d keys still watched after every WaitFor was cancelled", n)
	}
	waitUntil(t, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= before })
}
