// Package itest holds helpers for orderflow's integration tests, which run against the real stack
// that `make up` starts (PostgreSQL, Kafka, Kafka Connect with Debezium, the schema registry).
// Every test gets names of its own (schema, topics, groups, connector) so tests never collide,
// and every wait is bounded and fails with a message saying what did not happen.
package itest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/schemas/gate"
)

// Stack returns the endpoints of the local stack and skips nothing: when the stack is down the
// test fails with a message saying to run `make up`.
func Stack(t testing.TB) endpoints.Endpoints {
	t.Helper()
	cfg := endpoints.FromEnv()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kafka.Probe(ctx, cfg.Brokers); err != nil {
		t.Fatalf("the integration stack is not reachable (run `make up`): %v", err)
	}
	return cfg
}

// Suffix returns a short random identifier for test-private names.
func Suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Context returns a context bounded by d and cancelled when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// PG connects to the stack's PostgreSQL; the connection closes when the test ends.
func PG(t testing.TB, cfg endpoints.Endpoints) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, cfg.PGDSN)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Topics creates test topics and deletes them when the test ends.
func Topics(t testing.TB, cfg endpoints.Endpoints, topics ...kafka.Topic) {
	t.Helper()
	admin, err := kafka.NewAdmin(cfg.Brokers)
	if err != nil {
		t.Fatal(err)
	}
	if err := kafka.EnsureTopics(admin, topics); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, tp := range topics {
			_ = admin.DeleteTopic(tp.Name)
		}
		admin.Close()
	})
}

// OutboxConnector registers a Debezium outbox connector capturing schema.outbox, waits until it
// runs and its replication slot is streaming, and removes connector, slot and publication when
// the test ends.
func OutboxConnector(t testing.TB, cfg endpoints.Endpoints, pg *pgx.Conn, schema string, opts ...connectors.OutboxOption) connectors.Connector {
	t.Helper()
	opts = append([]connectors.OutboxOption{
		connectors.WithName("itest-" + schema),
		connectors.WithDatabase(cfg.PGDSN),
		connectors.WithOutboxTable(schema),
	}, opts...)
	conn, err := connectors.OutboxConnector(opts...)
	if err != nil {
		t.Fatal(err)
	}
	client := connectors.NewClient(cfg.ConnectURL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(func() { removeConnector(t, client, pg, conn) })
	if err := client.Apply(ctx, conn); err != nil {
		t.Fatalf("apply connector %s: %v", conn.Name, err)
	}
	if err := connectors.WaitStreaming(ctx, pg, conn); err != nil {
		t.Fatalf("connector %s runs but does not stream: %v", conn.Name, err)
	}
	return conn
}

func removeConnector(t testing.TB, client *connectors.Client, pg *pgx.Conn, conn connectors.Connector) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, done := Live(ctx, pg, Stack(t).PGDSN)
	defer done()
	if err := connectors.Remove(ctx, client, pg, conn); err != nil {
		t.Logf("cleanup: %v", err)
	}
	if admin, err := kafka.NewAdmin(Stack(t).Brokers); err == nil {
		_ = admin.DeleteTopic(connectors.HeartbeatTopic(conn)) // created by the connector
		admin.Close()
	}
}

// Live returns pg, or a new connection to dsn when pg no longer answers (a test that restarted
// PostgreSQL still cleans up after itself); done closes what Live opened.
func Live(ctx context.Context, pg *pgx.Conn, dsn string) (conn *pgx.Conn, done func()) {
	if pg.Ping(ctx) == nil {
		return pg, func() {}
	}
	fresh, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return pg, func() {}
	}
	return fresh, func() { fresh.Close(context.Background()) }
}

// Eventually calls f until it returns nil or ctx ends, then returns f's last error.
func Eventually(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ConsumeUntil reads every partition of topic from the oldest offset and calls keep for each
// message until keep returns true or ctx ends.
func ConsumeUntil(ctx context.Context, cfg endpoints.Endpoints, topic string, keep func(*sarama.ConsumerMessage) bool) error {
	consumer, err := sarama.NewConsumer(cfg.Brokers, kafka.NewSaramaConfig("orderflow-itest"))
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	defer consumer.Close()
	parts, err := consumer.Partitions(topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", topic, err)
	}
	msgs := make(chan *sarama.ConsumerMessage)
	ctx, stop := context.WithCancel(ctx)
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			stop()
			return fmt.Errorf("consume %s/%d: %w", topic, p, err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	defer stop() // runs before the partition consumers close: forwarders stop first
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("reading %s: %w", topic, ctx.Err())
		case m := <-msgs:
			if keep(m) {
				return nil
			}
		}
	}
}

// Header returns the value of the named record header, or "" when absent.
func Header(m *sarama.ConsumerMessage, name string) string {
	for _, h := range m.Headers {
		if string(h.Key) == name {
			return string(h.Value)
		}
	}
	return ""
}

// DeleteSubjects removes (soft, then permanently) every registry subject starting with prefix.
func DeleteSubjects(t testing.TB, registryURL, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g := gate.New(registryURL)
	subjects, err := g.Subjects(ctx)
	if err != nil {
		t.Logf("cleanup: list subjects: %v", err)
		return
	}
	for _, s := range subjects {
		if strings.HasPrefix(s, prefix) {
			if err := g.DeleteSubject(ctx, s); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	}
}

// WaitNoLag waits until every consumer group has committed offsets at the end of each of its
// topics' partitions (nothing left to process).
func WaitNoLag(ctx context.Context, cfg endpoints.Endpoints, groups map[string][]string) error {
	meter, err := lag.NewMeter(cfg.Brokers)
	if err != nil {
		return err
	}
	defer meter.Close()
	return meter.WaitCaughtUp(ctx, groups, 200*time.Millisecond)
}
