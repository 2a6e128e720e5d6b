//go:build integration

package orders_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/pii"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// On the real PostgreSQL with the real keystore: personal data is stored and emitted sealed only
// (no plaintext in the order's row, its request hash or its OrderPlaced); Personal reveals it;
// after EraseCustomer it reads as "[erased]" and exactly one CustomerErased outbox event was
// written, keyed by the customer; erasing again destroys and records nothing.
func TestIntegrationPersonalDataSealedAndErased(t *testing.T) {
	ctx, pg, _, serde, schema := migratedStore(t, "personal_")
	pool, err := pgxpool.New(ctx, itest.Stack(t).PGDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	spec, err := pii.GenerateMasterKey("itest")
	if err != nil {
		t.Fatal(err)
	}
	masters, err := pii.ParseMasterKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	keystore := pii.NewKeystore(pool, schema, masters)
	if err := keystore.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	store := orders.NewStore(pool, serde, schema, orders.WithKeystore(keystore))
	if err := store.Migrate(ctx); err != nil { // again: idempotent, with the columns already there
		t.Fatal(err)
	}
	// Outbox rows leave in the transaction that writes them: a trigger keeps a copy of each.
	if _, err := pg.Exec(ctx, `CREATE TABLE `+schema+`.outbox_copies (aggregatetype text, aggregateid text, type text, payload bytea);
		CREATE FUNCTION `+schema+`.copy_outbox() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN INSERT INTO `+schema+`.outbox_copies VALUES (NEW.aggregatetype, NEW.aggregateid, NEW.type, NEW.payload); RETURN NEW; END; $$;
		CREATE TRIGGER copy_insert AFTER INSERT ON `+schema+`.outbox
			FOR EACH ROW EXECUTE FUNCTION `+schema+`.copy_outbox();`); err != nil {
		t.Fatal(err)
	}
	type copied struct {
		aggregateType, aggregateID, typ string
		payload                         []byte
	}
	outboxOf := func(typ string) []copied {
		rows, err := pg.Query(ctx, `SELECT aggregatetype, aggregateid, type, payload FROM `+schema+`.outbox_copies WHERE type = $1`, typ)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []copied
		for rows.Next() {
			var c copied
			if err := rows.Scan(&c.aggregateType, &c.aggregateID, &c.typ, &c.payload); err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
		return out
	}

	const name, email, address = "Zoë Müller-Lüdenscheidt", "zoe.mueller@example.org", "Hauptstraße 1, 10115 Berlin"
	plaintexts := []string{name, email, address, "Müller", "example.org", "Hauptstraße"}
	req := orders.NewOrder{CustomerID: "c-pii", Currency: "EUR", Items: []orders.Item{{SKU: "A", Quantity: 1, UnitPriceMinor: 100}},
		CustomerName: name, CustomerEmail: email, ShippingAddress: address}
	placed, err := store.Place(ctx, req, "k-pii", "")
	if err != nil || !placed.Created {
		t.Fatalf("place: %+v %v", placed, err)
	}

	// the row: sealed columns, and no plaintext in any column
	var sealedName, sealedEmail, sealedAddress, row string
	if err := pg.QueryRow(ctx, `SELECT customer_name_sealed, customer_email_sealed, shipping_address_sealed, o::text
		FROM `+schema+`.orders o WHERE order_id = $1`, placed.OrderID).Scan(&sealedName, &sealedEmail, &sealedAddress, &row); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{sealedName, sealedEmail, sealedAddress} {
		if !strings.HasPrefix(v, "pii1.") {
			t.Errorf("sealed column %q is not a sealed value", v)
		}
	}
	for _, p := range plaintexts {
		if strings.Contains(row, p) {
			t.Errorf("the orders row holds plaintext %q: %s", p, row)
		}
	}

	// the event: the same sealed strings, no plaintext in its bytes
	events := outboxOf("OrderPlaced")
	if len(events) != 1 {
		t.Fatalf("%d OrderPlaced outbox rows, want 1", len(events))
	}
	for _, p := range plaintexts {
		if bytes.Contains(events[0].payload, []byte(p)) {
			t.Errorf("the OrderPlaced payload holds plaintext %q", p)
		}
	}
	ev, err := codec.DecodeInto[schemas.OrderPlaced](serde, events[0].payload)
	if err != nil {
		t.Fatal(err)
	}
	if ev.CustomerName == nil || *ev.CustomerName != sealedName || ev.CustomerEmail == nil || *ev.CustomerEmail != sealedEmail ||
		ev.ShippingAddress == nil || *ev.ShippingAddress != sealedAddress {
		t.Errorf("OrderPlaced personal fields %v %v %v, want the sealed columns", ev.CustomerName, ev.CustomerEmail, ev.ShippingAddress)
	}
	if got, err := keystore.Open(ctx, "c-pii", orders.FieldCustomerEmail, *ev.CustomerEmail); err != nil || got != email {
		t.Errorf("the event's email opens as %q, %v", got, err)
	}

	// retries: the same body is the same request (sealed again, differently, yet not a conflict);
	// other personal data under the key is another request
	again, err := store.Place(ctx, req, "k-pii", "")
	if err != nil || again.Created || again.OrderID != placed.OrderID {
		t.Fatalf("retry: %+v %v; want the first order", again, err)
	}
	other := req
	other.CustomerEmail = "max@example.org"
	if _, err := store.Place(ctx, other, "k-pii", ""); !errors.Is(err, orders.ErrIdempotencyConflict) {
		t.Fatalf("same key, other email: %v; want ErrIdempotencyConflict", err)
	}

	customer, p, found, err := store.Personal(ctx, placed.OrderID)
	if err != nil || !found || customer != "c-pii" || p != (orders.PersonalData{Name: name, Email: email, Address: address}) {
		t.Fatalf("Personal: %q %+v %v %v", customer, p, found, err)
	}
	plain, err := store.Place(ctx, orders.NewOrder{CustomerID: "c-pii", Currency: "EUR", Items: req.Items}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, p, found, err := store.Personal(ctx, plain.OrderID); err != nil || !found || p != (orders.PersonalData{}) {
		t.Errorf("Personal of an order without personal data: %+v %v %v", p, found, err)
	}
	if _, _, found, err := store.Personal(ctx, "o-never"); err != nil || found {
		t.Errorf("Personal of an unknown order: found %v, %v", found, err)
	}

	// an erasure whose record can not be written destroys nothing: the keys and the
	// CustomerErased commit together (the outbox is briefly unwritable here)
	if _, err := pg.Exec(ctx, `ALTER TABLE `+schema+`.outbox RENAME TO outbox_away`); err != nil {
		t.Fatal(err)
	}
	if keys, err := store.EraseCustomer(ctx, "c-pii"); err == nil {
		t.Errorf("EraseCustomer with no outbox: %d keys and no error", keys)
	}
	if _, err := pg.Exec(ctx, `ALTER TABLE `+schema+`.outbox_away RENAME TO outbox`); err != nil {
		t.Fatal(err)
	}
	if _, p, _, err := store.Personal(ctx, placed.OrderID); err != nil || p.Name == pii.Erased {
		t.Fatalf("after a failed erasure: %+v %v, want the data still readable", p, err)
	}

	keys, err := store.EraseCustomer(ctx, "c-pii")
	if err != nil || keys != 1 {
		t.Fatalf("EraseCustomer: %d %v, want 1 key", keys, err)
	}
	_, p, _, err = store.Personal(ctx, placed.OrderID)
	if err != nil || p != (orders.PersonalData{Name: pii.Erased, Email: pii.Erased, Address: pii.Erased}) {
		t.Errorf("Personal after erasure: %+v %v, want every field %q", p, err, pii.Erased)
	}
	erased := outboxOf("CustomerErased")
	if len(erased) != 1 || erased[0].aggregateType != topology.AggregateCustomer || erased[0].aggregateID != "c-pii" {
		t.Fatalf("CustomerErased outbox rows %+v, want one for aggregate customer c-pii", erased)
	}
	ce, err := codec.DecodeInto[schemas.CustomerErased](serde, erased[0].payload)
	if err != nil || ce.CustomerID != "c-pii" || ce.Keys != 1 || ce.Meta.CorrelationID != "c-pii" || ce.ErasedAt.IsZero() {
		t.Errorf("CustomerErased %+v %v", ce, err)
	}

	if keys, err := store.EraseCustomer(ctx, "c-pii"); err != nil || keys != 0 {
		t.Errorf("erase again: %d %v, want 0", keys, err)
	}
	if n := len(outboxOf("CustomerErased")); n != 1 {
		t.Errorf("%d CustomerErased rows after erasing twice, want 1", n)
	}
	if keys, err := store.EraseCustomer(ctx, "c-nobody"); err != nil || keys != 0 {
		t.Errorf("erase a customer without keys: %d %v, want 0", keys, err)
	}
	if _, err := store.EraseCustomer(ctx, "bad id"); !errors.Is(err, orders.ErrInvalid) {
		t.Errorf("erase a malformed id: %v, want ErrInvalid", err)
	}
}

// A store without a keystore refuses personal data before writing anything.
func TestIntegrationPersonalDataNeedsKeystore(t *testing.T) {
	ctx, pg, store, _, schema := migratedStore(t, "nokeys_")
	_, err := store.Place(ctx, orders.NewOrder{CustomerID: "c-1", Currency: "EUR",
		Items: []orders.Item{{SKU: "A", Quantity: 1, UnitPriceMinor: 1}}, CustomerEmail: "zoe@example.org"}, "", "")
	if !errors.Is(err, orders.ErrInvalid) {
		t.Fatalf("place with personal data, no keystore: %v, want ErrInvalid", err)
	}
	var n int
	if err := pg.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.orders`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d orders written (%v), want 0", n, err)
	}
}
