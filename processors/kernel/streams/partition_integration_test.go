//go:build integration

package streams_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/orders/outbox"
)

// Co-partitioning on the live stack: 300 keys written through Debezium (Kafka's Java producer)
// and through a goka emitter land on the same partition number of two 6-partition topics.
func TestIntegrationDebeziumAndGokaPlaceKeysAlike(t *testing.T) {
	cfg := itest.Stack(t)
	pg := itest.PG(t, cfg)
	ctx := itest.Context(t, 3*time.Minute)
	suffix := itest.Suffix()
	schema, prefix := "keys_"+suffix, "keys"+suffix
	if err := outbox.Migrate(ctx, pg, schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`) })
	dbzTopic, gokaTopic := prefix+".keys.events", prefix+".goka"
	itest.Topics(t, cfg, kafka.Topic{Name: dbzTopic, Partitions: 6}, kafka.Topic{Name: gokaTopic, Partitions: 6})
	itest.OutboxConnector(t, cfg, pg, schema, connectors.WithTopicPrefix(prefix), connectors.WithSetting("slot.drop.on.stop", "true"))

	const n = 300
	keys := make([]string, n)
	tx, err := pg.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		keys[i] = fmt.Sprintf("order-%d-%s", i, suffix)
		if _, err := outbox.Insert(ctx, tx, schema, outbox.Event{AggregateType: "keys", AggregateID: keys[i], Type: "Probe", Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	em, err := streams.NewEmitter(cfg.Brokers, streamOf(gokaTopic))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := em.EmitSync(k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	em.Finish()

	placement := func(topic string) map[string]int32 {
		got := map[string]int32{}
		err := itest.ConsumeUntil(itest.Context(t, time.Minute), cfg, topic, func(m *sarama.ConsumerMessage) bool {
			got[string(m.Key)] = m.Partition
			return len(got) == n
		})
		if err != nil {
			t.Fatalf("%s: %d of %d keys read: %v", topic, len(got), n, err)
		}
		return got
	}
	dbz, gk := placement(dbzTopic), placement(gokaTopic)
	used := map[int32]bool{}
	for _, k := range keys {
		used[dbz[k]] = true
		if dbz[k] != gk[k] {
			t.Errorf("key %s: Debezium partition %d, goka partition %d", k, dbz[k], gk[k])
		}
		if want := kafka.PartitionFor([]byte(k), 6); dbz[k] != want {
			t.Errorf("key %s: Debezium partition %d, murmur2 says %d", k, dbz[k], want)
		}
	}
	if len(used) != 6 {
		t.Errorf("keys used %d of 6 partitions; the test needs all of them", len(used))
	}
}
