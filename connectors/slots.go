package connectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is the part of a pgx connection or pool the slot helpers use.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// WaitStreaming waits until the replication slot of conn exists and is active, i.e. Debezium
// streams changes: rows committed from then on are captured.
func WaitStreaming(ctx context.Context, db DB, conn Connector) error {
	slot := conn.Config["slot.name"]
	return retry(ctx, func() error {
		var active bool
		if err := db.QueryRow(ctx, `SELECT active FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&active); err != nil {
			return fmt.Errorf("slot %s: %w", slot, err)
		}
		if !active {
			return fmt.Errorf("slot %s exists but is not streaming", slot)
		}
		return nil
	})
}

// Remove deletes the connector, then drops its replication slot (once Debezium has let go of
// it) and its publication, so PostgreSQL keeps no WAL for it.
func Remove(ctx context.Context, client *Client, db DB, conn Connector) error {
	var errs []error
	if err := client.Delete(ctx, conn.Name); err != nil {
		errs = append(errs, fmt.Errorf("delete connector %s: %w", conn.Name, err))
	}
	slot, pub := conn.Config["slot.name"], conn.Config["publication.name"]
	err := retry(ctx, func() error {
		if _, err := db.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
			WHERE slot_name = $1 AND NOT active`, slot); err != nil {
			return err
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("slot %s still active", slot)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("drop slot %s: %w", slot, err))
	}
	if _, err := db.Exec(ctx, `DROP PUBLICATION IF EXISTS `+pgx.Identifier{pub}.Sanitize()); err != nil {
		errs = append(errs, fmt.Errorf("drop publication %s: %w", pub, err))
	}
	return errors.Join(errs...)
}

// retry calls f every 200 ms until it returns nil or ctx ends, then returns f's last error.
func retry(ctx context.Context, f func() error) error {
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
