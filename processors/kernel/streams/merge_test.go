package streams

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// fakeClaim is one topic-partition's records, with the high-water mark the fetches reported.
type fakeClaim struct {
	sarama.ConsumerGroupClaim
	topic    string
	messages chan *sarama.ConsumerMessage
	hwm      atomic.Int64
}

func newFakeClaim(topic string) *fakeClaim {
	return &fakeClaim{topic: topic, messages: make(chan *sarama.ConsumerMessage, 16)}
}

func (c *fakeClaim) Topic() string                            { return c.topic }
func (c *fakeClaim) Partition() int32                         { return 0 }
func (c *fakeClaim) InitialOffset() int64                     { return sarama.OffsetOldest }
func (c *fakeClaim) HighWaterMarkOffset() int64               { return c.hwm.Load() }
func (c *fakeClaim) Messages() <-chan *sarama.ConsumerMessage { return c.messages }

var epoch = time.Date(2026, 11, 26, 22, 49, 49, 0, time.UTC)

// send puts a record of the claim's topic at offset, written ms milliseconds after epoch.
func (c *fakeClaim) send(offset int64, ms int) {
	c.messages <- &sarama.ConsumerMessage{Topic: c.topic, Offset: offset, Timestamp: epoch.Add(time.Duration(ms) * time.Millisecond)}
}

func names(msgs ...*sarama.ConsumerMessage) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%s@%d", m.Topic, m.Offset))
	}
	return out
}

func receive(t *testing.T, m *merger, n int) []*sarama.ConsumerMessage {
	t.Helper()
	var got []*sarama.ConsumerMessage
	for range n {
		select {
		case msg := <-m.out:
			got = append(got, msg)
		case <-time.After(5 * time.Second):
			t.Fatalf("after %v: no record within 5 s", names(got...))
		}
	}
	return got
}

// A partition's inputs reach goka merged by timestamp, each topic in its own order, whatever
// order their fetches arrive in: an input known to have records on their way (its high-water
// mark is past what it received) is waited for, so a replay after a crash meets the records in
// the same order as the first run did.
func TestMergerReleasesThePartitionsInputsByTimestamp(t *testing.T) {
	inventory, shipping := newFakeClaim("inventory"), newFakeClaim("shipping")
	var released []string
	m := newMerger([]sarama.ConsumerGroupClaim{inventory, shipping}, func(msg *sarama.ConsumerMessage) {
		released = append(released, fmt.Sprintf("%s@%d", msg.Topic, msg.Offset))
	})
	stop := make(chan struct{})
	defer close(stop)

	// Both topics hold records; the shipment's fetch arrives first, the reservation's is on its way.
	inventory.hwm.Store(8)
	shipping.hwm.Store(5)
	shipping.send(4, 696) // ShipmentCreated
	go m.run(stop)
	time.Sleep(50 * time.Millisecond) // the merger must hold the shipment back
	inventory.send(7, 483)            // StockReserved, earlier
	got := receive(t, m, 2)
	if want := []string{"inventory@7", "shipping@4"}; fmt.Sprint(names(got...)) != fmt.Sprint(want) {
		t.Fatalf("released %v, want %v (the older record first)", names(got...), want)
	}

	// Each topic keeps its order, even where timestamps go backwards within it.
	inventory.hwm.Store(10)
	shipping.hwm.Store(6)
	inventory.send(8, 900)
	inventory.send(9, 800)
	shipping.send(5, 850)
	got = receive(t, m, 3)
	if want := []string{"shipping@5", "inventory@8", "inventory@9"}; fmt.Sprint(names(got...)) != fmt.Sprint(want) {
		t.Fatalf("released %v, want %v", names(got...), want)
	}
	if fmt.Sprint(released) != "[inventory@7 shipping@4 shipping@5 inventory@8 inventory@9]" {
		t.Errorf("recorded as delivered %v, not in the order released", released)
	}
}

// An input with nothing to deliver does not hold the others up: one caught up (its high-water
// mark reached) is not waited for at all, one whose records never come is waited for at most
// maxIdle.
func TestMergerDoesNotWaitForAnIdleInput(t *testing.T) {
	busy, idle := newFakeClaim("busy"), newFakeClaim("idle")
	m := newMerger([]sarama.ConsumerGroupClaim{busy, idle}, func(*sarama.ConsumerMessage) {})
	m.maxIdle = 200 * time.Millisecond
	stop := make(chan struct{})
	defer close(stop)
	go m.run(stop)

	busy.hwm.Store(1)
	idle.hwm.Store(3) // says records exist, but none arrive (e.g. deleted by retention)
	start := time.Now()
	busy.send(0, 1)
	receive(t, m, 1)
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Errorf("released after %s, want after about maxIdle (200ms)", d)
	}

	start = time.Now() // the idle input's mark has not moved: no second wait
	busy.hwm.Store(2)
	busy.send(1, 2)
	receive(t, m, 1)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("waited %s again for an input already given up at the same mark", d)
	}
}

// When every input's records end, the merged stream ends.
func TestMergerEndsWithItsInputs(t *testing.T) {
	a, b := newFakeClaim("a"), newFakeClaim("b")
	m := newMerger([]sarama.ConsumerGroupClaim{a, b}, func(*sarama.ConsumerMessage) {})
	go m.run(make(chan struct{}))
	a.hwm.Store(1)
	a.send(0, 1)
	close(a.messages)
	close(b.messages)
	got := receive(t, m, 1)
	if names(got...)[0] != "a@0" {
		t.Fatalf("got %v", names(got...))
	}
	select {
	case _, ok := <-m.out:
		if ok {
			t.Fatal("a record after both inputs ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the merged stream did not end with its inputs")
	}
}
