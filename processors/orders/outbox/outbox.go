package outbox

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrate.sql
var migrateSQL string

// DefaultSchema holds the outbox the project's connector captures (public.outbox).
const DefaultSchema = "public"

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Execer is satisfied by *pgx.Conn, *pgxpool.Pool and pgx.Tx.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// HeartbeatTable is the one-row table in the outbox's schema that the connector's heartbeat
// query writes (see connectors/outbox.json).
const HeartbeatTable = "outbox_heartbeat"

// Migrate creates schema.outbox with its insert-only trigger, and schema.outbox_heartbeat. It is
// idempotent.
func Migrate(ctx context.Context, db Execer, schema string) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("outbox: invalid schema name %q", schema)
	}
	sql := strings.ReplaceAll(migrateSQL, "{{schema}}", schema)
	if _, err := db.Exec(ctx, sql); err != nil {
		return fmt.Errorf("outbox: migrate %s.outbox: %w", schema, err)
	}
	return nil
}

// Event is one outbox row.
type Event struct {
	ID            uuid.UUID // event id; generated when zero
	AggregateType string    // routes the event: topic orderflow.<AggregateType>.events
	AggregateID   string    // the Kafka key: every event of one aggregate lands on one partition
	Type          string    // event type, carried in the eventType header
	Payload       []byte    // the Kafka value, byte for byte
	OccurredAt    time.Time // defaults to now
	TraceParent   string    // W3C traceparent, carried in the traceparent header; may be empty
}

// ErrInvalidEvent is returned for an event missing a required field.
var ErrInvalidEvent = errors.New("outbox: invalid event")

// Insert writes the event in the caller's transaction and deletes it again in that
// transaction, in one round trip: the event is captured if and only if the transaction commits,
// and the outbox keeps no row once it does (Debezium reads the INSERT from the WAL; the router
// ignores the DELETE). It returns the event id.
func Insert(ctx context.Context, tx pgx.Tx, schema string, ev Event) (uuid.UUID, error) {
	b := &pgx.Batch{}
	id, err := Queue(b, schema, ev)
	if err != nil {
		return uuid.Nil, err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return uuid.Nil, fmt.Errorf("outbox: write %s event for %s %s: %w", ev.Type, ev.AggregateType, ev.AggregateID, err)
	}
	return id, nil
}

// Queue adds the event's insert, and the delete of that row, to a batch, which runs in one
// transaction (the batch's implicit one, or the caller's): the event is captured if and only if
// that transaction commits, and the outbox keeps no row once it does. It returns the event id;
// the statements' errors come from the batch's results, which hold two entries per queued event
// (insert, then delete).
func Queue(b *pgx.Batch, schema string, ev Event) (uuid.UUID, error) {
	sql, args, err := insertOf(schema, &ev)
	if err != nil {
		return uuid.Nil, err
	}
	b.Queue(sql, args...)
	b.Queue(`DELETE FROM `+schema+`.outbox WHERE id = $1`, ev.ID)
	return ev.ID, nil
}

// insertOf validates ev, fills its defaults and returns its INSERT.
func insertOf(schema string, ev *Event) (string, []any, error) {
	switch {
	case ev.AggregateType == "":
		return "", nil, fmt.Errorf("%w: aggregate type is empty", ErrInvalidEvent)
	case ev.AggregateID == "":
		return "", nil, fmt.Errorf("%w: aggregate id is empty", ErrInvalidEvent)
	case ev.Type == "":
		return "", nil, fmt.Errorf("%w: type is empty", ErrInvalidEvent)
	case ev.Payload == nil:
		return "", nil, fmt.Errorf("%w: payload is nil", ErrInvalidEvent)
	case !schemaName.MatchString(schema):
		return "", nil, fmt.Errorf("%w: invalid schema name %q", ErrInvalidEvent, schema)
	}
	if ev.ID == uuid.Nil {
		ev.ID = uuid.New()
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = time.Now()
	}
	var trace any
	if ev.TraceParent != "" {
		trace = ev.TraceParent
	}
	return `INSERT INTO ` + schema + `.outbox
		(id, aggregatetype, aggregateid, type, payload, occurred_at, tracingspancontext)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		[]any{ev.ID, ev.AggregateType, ev.AggregateID, ev.Type, ev.Payload, ev.OccurredAt, trace}, nil
}
