//go:build integration

// The ledger's replay safeguards under more traffic on one key than any window of remembered
// ids would hold; see crash_integration_test.go for the helpers.

package runner_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// 10 000 commands on one SKU (a HOLD and then a COMMIT or RELEASE for each of 5000 orders), a
// kill -9 and a restart, then the SKU's first StockAdjusted delivered again (as Debezium does after
// a connector restart) and the first HOLD sent again (as reservations may after a crash): on-hand
// stays what the commands left, and no hold is left behind.
func TestIntegrationLedgerSurvivesHeavyTrafficCrashAndRedelivery(t *testing.T) {
	p := startAPIOnly(t)
	proc := p.spawn(t, "a")
	const sku, orders = "SKU-HOT", 5000
	for _, available := range []int{100000, orders} { // the first setting is the one redelivered later
		if code := p.call("PUT", "/inventory/"+sku, map[string]int{"available": available}, nil); code != 202 {
			t.Fatalf("PUT /inventory: %d", code)
		}
	}
	waitStock(t, p, sku, orders, 0)

	serde, err := codec.New(codec.NewSRClient(p.cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(p.cfg.Brokers, kafka.NewSaramaConfig("itest-ledger"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	command := func(order string, op schemas.SkuOp) *sarama.ProducerMessage {
		c := schemas.SkuCommand{Meta: schemas.Metadata{EventID: uuid.NewString(), EventType: "SkuCommand",
			OccurredAt: time.Now().UTC().Truncate(time.Millisecond), OrderID: &order, CorrelationID: order},
			SKU: sku, OrderID: order, Op: op, Quantity: 1}
		payload, err := serde.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		return &sarama.ProducerMessage{Topic: string(p.topo.SkuCommands()), Key: sarama.StringEncoder(sku), Value: sarama.ByteEncoder(payload),
			Headers: []sarama.RecordHeader{{Key: []byte(streams.HeaderEventID), Value: []byte(c.Meta.EventID)}}}
	}
	var msgs []*sarama.ProducerMessage
	committed := 0
	for i := range orders {
		order := fmt.Sprintf("ledger-%d", i)
		op := schemas.SkuOpRelease
		if i%2 == 0 {
			op = schemas.SkuOpCommit
			committed++
		}
		// a HOLD and its close are adjacent in the SKU's partition: the close names no hold
		// number, so it closes whatever hold the order has
		msgs = append(msgs, command(order, schemas.SkuOpHold), command(order, op))
	}
	firstHold := msgs[0]
	for start := 0; start < len(msgs); start += 500 {
		if err := producer.SendMessages(msgs[start:min(start+500, len(msgs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := itest.WaitNoLag(itest.Context(t, 3*time.Minute), p.cfg, catalog.Inputs(p.topo)); err != nil {
		t.Fatalf("processors did not catch up: %v", err)
	}
	want := int64(orders - committed)
	waitStock(t, p, sku, want, 0)

	proc.signal(t, syscall.SIGKILL)
	p.spawn(t, "a") // same state directory, as a restarted pod would have

	// the SKU's first StockAdjusted, byte for byte, delivered again at a new offset
	var old *sarama.ConsumerMessage
	err = itest.ConsumeUntil(itest.Context(t, 30*time.Second), p.cfg, string(p.topo.StockEvents()), func(m *sarama.ConsumerMessage) bool {
		if ev, err := serde.Decode(m.Value); err == nil {
			if adj, ok := ev.(schemas.StockAdjusted); ok && adj.SKU == sku && adj.Available == 100000 {
				old = m
			}
		}
		return old != nil
	})
	if err != nil {
		t.Fatalf("the first stock setting of %s: %v", sku, err)
	}
	var hdrs []sarama.RecordHeader
	for _, h := range old.Headers {
		hdrs = append(hdrs, *h)
	}
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: old.Topic, Key: sarama.ByteEncoder(old.Key),
		Value: sarama.ByteEncoder(old.Value), Headers: hdrs}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := producer.SendMessage(firstHold); err != nil { // a stale HOLD, long closed
		t.Fatal(err)
	}
	if err := itest.WaitNoLag(itest.Context(t, 2*time.Minute), p.cfg, catalog.Inputs(p.topo)); err != nil {
		t.Fatalf("processors did not catch up: %v", err)
	}
	waitStock(t, p, sku, want, 0)
}

// waitStock waits until the inventory view shows sku with available and reserved units.
func waitStock(t *testing.T, p *pipeline, sku string, available, reserved int64) {
	t.Helper()
	var st struct{ Available, Reserved int64 }
	ctx := itest.Context(t, time.Minute)
	if err := itest.Eventually(ctx, func() error {
		st.Available, st.Reserved = -1, -1
		p.call("GET", "/inventory/"+sku, nil, &st)
		if st.Available != available || st.Reserved != reserved {
			return fmt.Errorf("available %d reserved %d", st.Available, st.Reserved)
		}
		return nil
	}); err != nil {
		t.Fatalf("%s: %v; want available %d reserved %d", sku, err, available, reserved)
	}
}
