//go:build integration

package connectors_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/processors/orders/outbox"
)

// Outbox rows leave the table in the transaction that writes them, through both write paths
// (Insert in a transaction, Queue in a batch), and every event still reaches Kafka. While the
// outbox is idle the connector's heartbeat writes the heartbeat table and the slot's confirmed
// position catches up with the server's WAL, and the slot collector reports the WAL it retains.
func TestIntegrationOutboxHygiene(t *testing.T) {
	cfg := itest.Stack(t)
	pg := itest.PG(t, cfg)
	ctx := itest.Context(t, 3*time.Minute)

	schema := "hygiene_" + itest.Suffix()
	if err := outbox.Migrate(ctx, pg, schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`) })
	aggregateType := "hygiene" + itest.Suffix()
	probe, _ := connectors.OutboxConnector()
	topic := connectors.TopicFor(probe, aggregateType)
	itest.Topics(t, cfg, kafka.Topic{Name: topic, Partitions: 3})
	deleteHeartbeatTopic(t, cfg, schema)
	conn := itest.OutboxConnector(t, cfg, pg, schema, connectors.WithSetting("slot.drop.on.stop", "true"))
	slot := conn.Config["slot.name"]

	event := func(i int) outbox.Event {
		return outbox.Event{AggregateType: aggregateType, AggregateID: fmt.Sprintf("order-%d", i), Type: "OrderPlaced",
			Payload: []byte{byte(i)}}
	}
	want := map[string]bool{}
	tx, err := pg.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		id, err := outbox.Insert(ctx, tx, schema, event(i))
		if err != nil {
			t.Fatal(err)
		}
		want[id.String()] = true
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	batch := &pgx.Batch{}
	for i := 5; i < 10; i++ {
		id, err := outbox.Queue(batch, schema, event(i))
		if err != nil {
			t.Fatal(err)
		}
		want[id.String()] = true
	}
	if err := pg.SendBatch(ctx, batch).Close(); err != nil {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	err = itest.ConsumeUntil(itest.Context(t, time.Minute), cfg, topic, func(m *sarama.ConsumerMessage) bool {
		if id := itest.Header(m, "id"); want[id] {
			seen[id] = true
		}
		return len(seen) == len(want)
	})
	if err != nil {
		t.Fatalf("%d of %d events reached %s: %v", len(seen), len(want), topic, err)
	}
	var rows int
	if err := pg.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.outbox`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("the outbox keeps %d rows after capture, want 0", rows)
	}

	// Idle outbox, busy database: WAL of a table outside the publication piles up behind the
	// slot, and only the heartbeat can carry the slot past it.
	if _, err := pg.Exec(ctx, `CREATE TABLE `+schema+`.noise AS SELECT g AS n FROM generate_series(1, 10000) g`); err != nil {
		t.Fatal(err)
	}
	var now string
	if err := pg.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	idleSince := time.Now()
	var beats int
	var confirmed string
	err = itest.Eventually(itest.Context(t, 45*time.Second), func() error {
		if err := pg.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.`+outbox.HeartbeatTable+` WHERE beat_at > $1`,
			idleSince).Scan(&beats); err != nil {
			return err
		}
		var caughtUp bool
		if err := pg.QueryRow(ctx, `SELECT confirmed_flush_lsn::text, confirmed_flush_lsn > $2::pg_lsn
			FROM pg_replication_slots WHERE slot_name = $1`, slot, now).Scan(&confirmed, &caughtUp); err != nil {
			return err
		}
		if beats == 0 || !caughtUp {
			return fmt.Errorf("heartbeats since idle: %d; slot %s confirmed %s, WAL was at %s when idle", beats, slot, confirmed, now)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the heartbeat did not advance the idle slot: %v", err)
	}
	t.Logf("idle slot confirmed %s > %s after %s", confirmed, now, time.Since(idleSince).Round(time.Millisecond))

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(connectors.NewSlotCollector(pg, slot))
	got := gatherGauges(t, reg)
	retained, ok := got["orderflow_replication_slot_retained_wal_bytes"][slot]
	if !ok || retained < 0 {
		t.Errorf("orderflow_replication_slot_retained_wal_bytes{slot=%q} = %v (reported: %v), want ≥ 0", slot, retained, ok)
	}
	if active := got["orderflow_replication_slot_active"][slot]; active != 1 {
		t.Errorf("orderflow_replication_slot_active{slot=%q} = %v, want 1", slot, active)
	}
	t.Logf("slot %s retains %.0f bytes of WAL", slot, retained)
}

// deleteHeartbeatTopic deletes, when the test ends (after its connector is removed, since
// cleanups run last-registered first), the heartbeat topic the connector of schema creates.
func deleteHeartbeatTopic(t *testing.T, cfg endpoints.Endpoints, schema string) {
	probe, err := connectors.OutboxConnector(connectors.WithOutboxTable(schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, err := kafka.NewAdmin(cfg.Brokers)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer admin.Close()
		// A connector removed before its first heartbeat created no topic.
		if err := admin.DeleteTopic(connectors.HeartbeatTopic(probe)); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Logf("cleanup: delete %s: %v", connectors.HeartbeatTopic(probe), err)
		}
	})
}

// gatherGauges scrapes reg and returns metric name → slot label → value.
func gatherGauges(t *testing.T, reg prometheus.Gatherer) map[string]map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		out[mf.GetName()] = map[string]float64{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "slot" {
					out[mf.GetName()][l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}
