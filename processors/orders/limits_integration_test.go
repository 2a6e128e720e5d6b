//go:build integration

package orders_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas"
)

// On the real PostgreSQL: the orders table refuses a total outside 0..schemas.MaxTotalMinor,
// whether migrate created the table or found one from before the constraint (with an
// out-of-range row, which does not stop the migration); migrating again changes nothing.
func TestIntegrationStoredTotalIsBounded(t *testing.T) {
	cfg := itest.Stack(t)
	ctx := itest.Context(t, time.Minute)
	pg := itest.PG(t, cfg)
	pool, err := pgxpool.New(ctx, cfg.PGDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	for _, existing := range []bool{false, true} {
		schema := "orders_limits_" + itest.Suffix()
		t.Cleanup(func() { pg.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`) })
		if _, err := pg.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
			t.Fatal(err)
		}
		if existing { // the table as it was before the constraint, holding a wrapped total
			if _, err := pg.Exec(ctx, `CREATE TABLE `+schema+`.orders (order_id text PRIMARY KEY,
				customer_id text NOT NULL, currency text NOT NULL, total_minor bigint NOT NULL,
				placed_at timestamptz NOT NULL, idempotency_key text UNIQUE, request_hash text NOT NULL);
				INSERT INTO `+schema+`.orders VALUES ('o-old', 'c', 'EUR', -4659767778871345152, now(), NULL, 'h')`); err != nil {
				t.Fatal(err)
			}
		}
		store := orders.NewStore(pool, nil, schema)
		for i := range 2 {
			if err := store.Migrate(ctx); err != nil {
				t.Fatalf("existing table %v, migration %d: %v", existing, i+1, err)
			}
		}
		var n int
		if err := pg.QueryRow(ctx, `SELECT count(*) FROM pg_constraint WHERE conrelid = $1::regclass
			AND conname = 'orders_total_minor_range'`, schema+".orders").Scan(&n); err != nil || n != 1 {
			t.Fatalf("existing table %v: %d constraints orders_total_minor_range (%v), want 1", existing, n, err)
		}
		insert := func(id string, total int64) error {
			_, err := pg.Exec(ctx, `INSERT INTO `+schema+`.orders (order_id, customer_id, currency, total_minor, placed_at, request_hash)
				VALUES ($1, 'c', 'EUR', $2, now(), 'h')`, id, total)
			return err
		}
		for _, total := range []int64{0, schemas.MaxTotalMinor} {
			if err := insert("o-ok-"+itest.Suffix(), total); err != nil {
				t.Errorf("existing table %v: total %d refused: %v", existing, total, err)
			}
		}
		for _, total := range []int64{-1, schemas.MaxTotalMinor + 1, -4659767778871345152} {
			var pgErr *pgconn.PgError
			if err := insert("o-bad-"+itest.Suffix(), total); !errors.As(err, &pgErr) || pgErr.Code != "23514" {
				t.Errorf("existing table %v: total %d: %v, want a check violation (23514)", existing, total, err)
			}
		}
	}
}
