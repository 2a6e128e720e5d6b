//go:build integration

package orders_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
	"github.com/orderflow/orderflow/schemas/gate"
)

// On the real PostgreSQL: an order is written with its lines and exactly one outbox event (the
// row is inserted, then deleted in the same transaction, so the outbox ends empty); a retry with
// the same Idempotency-Key returns the first order and writes nothing; the same key with another
// request is refused and writes nothing either.
func TestIntegrationPlaceIsAtomicAndIdempotent(t *testing.T) {
	ctx, pg, store, _, schema := migratedStore(t, "orders_")
	// Outbox rows leave in the transaction that writes them: a trigger logs each insert.
	if _, err := pg.Exec(ctx, `CREATE TABLE `+schema+`.outbox_inserts (id uuid);
		CREATE FUNCTION `+schema+`.log_outbox_insert() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN INSERT INTO `+schema+`.outbox_inserts VALUES (NEW.id); RETURN NEW; END; $$;
		CREATE TRIGGER log_insert AFTER INSERT ON `+schema+`.outbox
			FOR EACH ROW EXECUTE FUNCTION `+schema+`.log_outbox_insert();`); err != nil {
		t.Fatal(err)
	}
	count := func(table string) int {
		var n int
		if err := pg.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.`+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	req := orders.NewOrder{CustomerID: "c-1", Currency: "EUR", Items: []orders.Item{{SKU: "A", Quantity: 2, UnitPriceMinor: 150}, {SKU: "B", Quantity: 1, UnitPriceMinor: 99}}}
	first, err := store.Place(ctx, req, "k-1", "")
	if err != nil || !first.Created {
		t.Fatalf("place: %+v %v", first, err)
	}
	again, err := store.Place(ctx, req, "k-1", "")
	if err != nil || again.Created || again.OrderID != first.OrderID {
		t.Fatalf("retry: %+v %v; want the first order, not created", again, err)
	}
	other := req
	other.CustomerID = "c-2"
	if _, err := store.Place(ctx, other, "k-1", ""); !errors.Is(err, orders.ErrIdempotencyConflict) {
		t.Fatalf("same key, other request: %v; want ErrIdempotencyConflict", err)
	}
	if _, err := store.Place(ctx, other, "", ""); err != nil { // no key: always a new order
		t.Fatal(err)
	}
	if o, l, e, r := count("orders"), count("order_lines"), count("outbox_inserts"), count("outbox"); o != 2 || l != 4 || e != 2 || r != 0 {
		t.Errorf("orders %d lines %d outbox events %d rows left %d; want 2, 4, 2, 0", o, l, e, r)
	}
	var total int64
	if err := pg.QueryRow(ctx, `SELECT sum(quantity * unit_price_minor) FROM `+schema+`.order_lines WHERE order_id = $1`, first.OrderID).Scan(&total); err != nil || total != 399 {
		t.Errorf("lines of the first order total %d (%v), want 399", total, err)
	}
}

// migratedStore is a store on a fresh schema (named prefix + a suffix, dropped after the test),
// migrated, with the shipped schemas registered: the context, the admin connection, the store, its
// serde and the schema.
func migratedStore(t *testing.T, prefix string) (context.Context, *pgx.Conn, *orders.Store, *codec.Serde, string) {
	t.Helper()
	cfg := itest.Stack(t)
	ctx := itest.Context(t, time.Minute)
	pg := itest.PG(t, cfg)
	schema := prefix + itest.Suffix()
	t.Cleanup(func() { pg.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`) })
	if _, err := pg.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	all, _ := schemas.All()
	if _, err := gate.New(cfg.RegistryURL).Apply(ctx, all); err != nil {
		t.Fatal(err)
	}
	serde, err := codec.New(codec.NewSRClient(cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, cfg.PGDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := orders.NewStore(pool, serde, schema)
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx, pg, store, serde, schema
}
