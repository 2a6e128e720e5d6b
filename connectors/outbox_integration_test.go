//go:build integration

package connectors_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/processors/orders/outbox"
)

// An outbox row committed in a pgx transaction reaches Kafka through Debezium with the aggregate
// id as key, the payload bytes untouched, and id, type and trace context as headers.
func TestIntegrationOutboxRowIsCapturedToKafka(t *testing.T) {
	cfg := itest.Stack(t)
	pg := itest.PG(t, cfg)
	ctx := itest.Context(t, 3*time.Minute)

	schema := "capture_" + itest.Suffix()
	if err := outbox.Migrate(ctx, pg, schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`) })
	if err := outbox.Migrate(ctx, pg, schema); err != nil {
		t.Fatalf("migration is not idempotent: %v", err)
	}

	aggregateType := "capture" + itest.Suffix()
	probe, _ := connectors.OutboxConnector()
	topic := connectors.TopicFor(probe, aggregateType)
	const partitions = 3
	itest.Topics(t, cfg, kafka.Topic{Name: topic, Partitions: partitions})
	deleteHeartbeatTopic(t, cfg, schema)
	itest.OutboxConnector(t, cfg, pg, schema, connectors.WithSetting("slot.drop.on.stop", "true"))

	// Bytes that survive only a binary-safe path: NUL, invalid UTF-8, the Confluent magic byte.
	payload := []byte{0x00, 0x00, 0x00, 0x00, 0x2a, 0xff, 0xfe, 'o', 'k', 0x00, 0x80}
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ev := outbox.Event{AggregateType: aggregateType, AggregateID: "order-42", Type: "OrderPlaced",
		Payload: payload, TraceParent: traceparent}
	tx, err := pg.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := outbox.Insert(ctx, tx, schema, ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	var got *sarama.ConsumerMessage
	err = itest.ConsumeUntil(itest.Context(t, time.Minute), cfg, topic, func(m *sarama.ConsumerMessage) bool {
		got = m
		return itest.Header(m, "id") == id.String()
	})
	if err != nil {
		t.Fatalf("event %s never reached %s: %v", id, topic, err)
	}
	if string(got.Key) != "order-42" {
		t.Errorf("key = %q, want the aggregate id %q", got.Key, "order-42")
	}
	if !bytes.Equal(got.Value, payload) {
		t.Errorf("value = %x, want the payload bytes %x exactly", got.Value, payload)
	}
	if h := itest.Header(got, "eventType"); h != "OrderPlaced" {
		t.Errorf("eventType header = %q, want OrderPlaced", h)
	}
	if h := itest.Header(got, "traceparent"); h != traceparent {
		t.Errorf("traceparent header = %q, want %q", h, traceparent)
	}
	if want := kafka.PartitionFor([]byte("order-42"), partitions); got.Partition != want {
		t.Errorf("Debezium put the key on partition %d, our murmur2 says %d", got.Partition, want)
	}

	// The outbox is insert-only: an update would never reach Kafka, so it is refused. (Insert
	// leaves no row behind, so the row to update is written by hand, in a transaction that is
	// rolled back and so never captured.)
	tx, err = pg.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `INSERT INTO `+schema+`.outbox (id, aggregatetype, aggregateid, type, payload)
		VALUES ($1, $2, 'x', 'x', '\x00')`, uuid.New(), aggregateType); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `UPDATE `+schema+`.outbox SET type = 'y'`)
	if err == nil || !strings.Contains(err.Error(), "insert-only") {
		t.Errorf("UPDATE of an outbox row: err = %v, want the insert-only refusal", err)
	}
}

// A bad connector configuration is refused by Connect's validate endpoint with a message naming
// the setting, quickly, instead of a connector that hangs or fails later.
func TestIntegrationBadConnectorConfigIsRefused(t *testing.T) {
	cfg := itest.Stack(t)
	client := connectors.NewClient(cfg.ConnectURL)

	cases := []struct {
		name    string
		setting string
		value   string
		want    string // text the error must contain
	}{
		{"unknown logical decoding plugin", "plugin.name", "no-such-plugin", "plugin.name"},
		{"database that does not exist", "database.dbname", "no_such_db_" + itest.Suffix(), "database"},
		{"unknown snapshot mode", "snapshot.mode", "sometimes", "snapshot.mode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			conn, err := connectors.OutboxConnector(
				connectors.WithName("itest-bad-"+itest.Suffix()),
				connectors.WithDatabase(cfg.PGDSN),
			)
			if err != nil {
				t.Fatal(err)
			}
			conn.Config[tc.setting] = tc.value
			err = client.Apply(ctx, conn)
			var invalid *connectors.InvalidConfigError
			if !errors.As(err, &invalid) {
				t.Fatalf("Apply = %v, want an InvalidConfigError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
			if _, err := client.Status(ctx, conn.Name); !errors.Is(err, connectors.ErrNotFound) {
				t.Errorf("a refused connector must not be created; status err = %v", err)
			}
		})
	}
}
