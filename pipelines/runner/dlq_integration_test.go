//go:build integration

package runner_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/deadletter"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Poison messages on the order topic (undecodable, unknown schema id, truncated, violating an
// invariant) go to orderflow.order.events.dlq with headers saying why, and every partition goes
// on: orders placed after them all complete. Replay re-publishes each origin message once.
func TestIntegrationPoisonMessagesAreDeadLettered(t *testing.T) {
	p := startPipeline(t)
	cfg := p.cfg
	serde, err := codec.New(codec.NewSRClient(cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	invalid := schemas.OrderPlaced{Meta: schemas.Metadata{EventID: "5f0b1c2d-0000-4000-8000-00000000000a", EventType: "OrderPlaced",
		OccurredAt: time.Now().UTC().Truncate(time.Millisecond), CorrelationID: "x"}, OrderID: "o-poison", CustomerID: "c", Currency: "EUR",
		Lines: []schemas.OrderLine{{SKU: "A", Quantity: 0, UnitPriceMinor: 100}}, PlacedAt: time.Now().UTC().Truncate(time.Millisecond)}
	valid, err := serde.Encode(invalid)
	if err != nil {
		t.Fatal(err)
	}
	poison := map[string][]byte{ // kind → payload
		"bad_magic_byte":    []byte(`{"order_id":"o-1"}`),
		"unknown_schema_id": codec.Frame(987654321, valid[5:]),
		"truncated_payload": valid[:len(valid)/2],
		"rejected":          valid,
	}
	producer, err := sarama.NewSyncProducer(cfg.Brokers, kafka.NewSaramaConfig("itest-poison"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	partitions := map[int32]bool{}
	sent := 0
	for kind, payload := range poison {
		for i := 0; i < 3; i++ { // three keys per kind: most partitions get poison
			part, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: string(p.topo.OrderEvents()),
				Key: sarama.StringEncoder(fmt.Sprintf("poison-%s-%d", kind, i)), Value: sarama.ByteEncoder(payload)})
			if err != nil {
				t.Fatal(err)
			}
			partitions[part] = true
			sent++
		}
	}

	p.call("PUT", "/inventory/A", map[string]int64{"available": 1000}, nil)
	waitStock(t, p, "A", 1000, 0) // orders placed before the ledger has the stock would be refused
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var created, final orderResp
			if p.call("POST", "/orders", orderReq{fmt.Sprintf("c-%d", i), "EUR", []item{{"A", 1, 100}}}, &created) != 201 {
				return
			}
			p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
			if !final.TimedOut && final.Status != "" {
				mu.Lock()
				done++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if done != 30 {
		t.Fatalf("%d of 30 orders placed after the poison completed: a partition is blocked", done)
	}

	dlq := string(streams.DLQTopic(p.topo.OrderEvents()))
	consumers := readers(p.topo)[string(p.topo.OrderEvents())]
	var entries []deadletter.Entry
	err = itest.Eventually(itest.Context(t, time.Minute), func() error {
		var err error
		entries, err = deadletter.Read(itest.Context(t, time.Minute), cfg.Brokers, dlq, 0)
		if err != nil {
			return err
		}
		if len(entries) < sent*consumers {
			return fmt.Errorf("%d dead letters, want %d", len(entries), sent*consumers)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range entries {
		kinds[e.Headers[streams.HeaderDLQKind]]++
		for _, h := range []string{streams.HeaderDLQTopic, streams.HeaderDLQPartition, streams.HeaderDLQOffset,
			streams.HeaderDLQProcessor, streams.HeaderDLQMessage, streams.HeaderDLQTime} {
			if e.Headers[h] == "" {
				t.Errorf("dead letter %s/%d@%d lacks header %s", e.Topic, e.Partition, e.Offset, h)
			}
		}
		if string(e.Value) != string(poison[e.Headers[streams.HeaderDLQKind]]) {
			t.Errorf("dead letter of kind %s does not carry the original payload", e.Headers[streams.HeaderDLQKind])
		}
	}
	for kind := range poison {
		if kinds[kind] != 3*consumers {
			t.Errorf("kind %s: %d dead letters, want %d (3 messages × %d processors); all kinds: %v", kind, kinds[kind], 3*consumers, consumers, kinds)
		}
	}

	n, err := deadletter.Replay(itest.Context(t, time.Minute), cfg.Brokers, dlq)
	if err != nil || n != sent {
		t.Fatalf("replay: %d messages, err %v; want each of the %d origin messages once", n, err, sent)
	}
	// Still poison: the replayed messages are dead-lettered again, each by every processor.
	err = itest.Eventually(itest.Context(t, time.Minute), func() error {
		all, err := deadletter.Read(itest.Context(t, time.Minute), cfg.Brokers, dlq, 0)
		if err == nil && len(all) < 2*sent*consumers {
			err = fmt.Errorf("%d dead letters after replay, want %d", len(all), 2*sent*consumers)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A second replay takes only the new dead letters: the replay position is kept.
	if again, err := deadletter.Replay(itest.Context(t, time.Minute), cfg.Brokers, dlq); err != nil || again != sent {
		t.Errorf("second replay: %d, %v; want the %d new ones only", again, err, sent)
	}
}
