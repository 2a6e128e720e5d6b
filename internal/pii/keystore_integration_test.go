//go:build integration

package pii_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/pii"
	"github.com/orderflow/orderflow/internal/testkit/itest"
)

// On the real PostgreSQL: Migrate is idempotent; concurrent first seals from separate keystores
// (separate caches, like separate processes) create one key; Erase NULLs the wrapped key, is
// idempotent, and the next Seal creates a new live key beside the erased one.
func TestIntegrationSealEraseReseal(t *testing.T) {
	ctx, pg, pool, schema := migratedSchema(t)
	m := masterKeys(t, "m1")
	k := pii.NewKeystore(pool, schema, m)
	if err := k.Migrate(ctx); err != nil { // twice: idempotent
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	sealed := make([]string, 8)
	for i := range sealed {
		wg.Go(func() {
			s, err := pii.NewKeystore(pool, schema, m).Seal(ctx, "c-1", "email", fmt.Sprintf("ada-%d@example.com", i))
			if err != nil {
				t.Error(err)
			}
			sealed[i] = s
		})
	}
	wg.Wait()
	if n := count(t, ctx, pg, schema, `customer_id = 'c-1'`); n != 1 {
		t.Fatalf("%d keys for c-1 after concurrent first seals, want 1", n)
	}
	for i, s := range sealed {
		if got, err := k.Open(ctx, "c-1", "email", s); err != nil || got != fmt.Sprintf("ada-%d@example.com", i) {
			t.Fatalf("open %d: %q %v", i, got, err)
		}
	}
	if _, err := k.Open(ctx, "c-1", "name", sealed[0]); err == nil || errors.Is(err, pii.ErrErased) {
		t.Errorf("open for another field: %v", err)
	}

	if n, err := k.Erase(ctx, "c-1"); err != nil || n != 1 {
		t.Fatalf("Erase: %d %v", n, err)
	}
	if n := count(t, ctx, pg, schema, `customer_id = 'c-1' AND wrapped IS NULL AND erased_at IS NOT NULL`); n != 1 {
		t.Errorf("%d erased rows without their wrapped key, want 1", n)
	}
	for _, ks := range []*pii.Keystore{k, pii.NewKeystore(pool, schema, m)} {
		if _, err := ks.Open(ctx, "c-1", "email", sealed[0]); !errors.Is(err, pii.ErrErased) {
			t.Errorf("open after erasure: %v, want ErrErased", err)
		}
		if got := ks.Reveal(ctx, "c-1", "email", sealed[0]); got != pii.Erased {
			t.Errorf("Reveal after erasure: %q", got)
		}
	}
	if n, err := k.Erase(ctx, "c-1"); err != nil || n != 0 {
		t.Errorf("second Erase: %d %v, want 0", n, err)
	}
	fresh, err := k.Seal(ctx, "c-1", "email", "new@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(ctx, "c-1", "email", fresh); err != nil || got != "new@example.com" {
		t.Errorf("new value: %q %v", got, err)
	}
	if live, all := count(t, ctx, pg, schema, `customer_id = 'c-1' AND erased_at IS NULL`), count(t, ctx, pg, schema, `customer_id = 'c-1'`); live != 1 || all != 2 {
		t.Errorf("c-1 has %d live of %d keys, want 1 of 2", live, all)
	}
}

// On the real PostgreSQL: Rotate re-wraps every live key (three batches) under the new master,
// leaves erased keys alone, runs while other keystores seal and open, and old values open once
// the old master is removed.
func TestIntegrationRotate(t *testing.T) {
	ctx, pg, pool, schema := migratedSchema(t)
	old := pii.NewKeystore(pool, schema, masterKeys(t, "m1"))
	const customers = 1100
	sealed := make([]string, customers)
	for i := range sealed {
		s, err := old.Seal(ctx, fmt.Sprintf("c-%d", i), "name", fmt.Sprintf("name %d", i))
		if err != nil {
			t.Fatal(err)
		}
		sealed[i] = s
	}
	if _, err := old.Erase(ctx, "c-0"); err != nil {
		t.Fatal(err)
	}
	both := masterKeys(t, "m2", "m1")
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i := range counts { // two concurrent rotations never double-wrap
		wg.Go(func() {
			n, err := pii.NewKeystore(pool, schema, both).Rotate(ctx)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		})
	}
	wg.Go(func() {
		k := pii.NewKeystore(pool, schema, both)
		for i := 1; i < 200; i++ {
			if got, err := k.Open(ctx, fmt.Sprintf("c-%d", i), "name", sealed[i]); err != nil || got != fmt.Sprintf("name %d", i) {
				t.Errorf("open during rotation: %q %v", got, err)
				return
			}
		}
	})
	wg.Wait()
	if counts[0]+counts[1] != customers-1 {
		t.Errorf("rotations re-wrapped %v, want %d in all", counts, customers-1)
	}
	if n := count(t, ctx, pg, schema, `erased_at IS NULL AND master_id <> 'm2'`); n != 0 {
		t.Errorf("%d live keys not wrapped by m2", n)
	}
	if n := count(t, ctx, pg, schema, `erased_at IS NOT NULL AND wrapped IS NOT NULL`); n != 0 {
		t.Errorf("rotation gave %d erased keys a wrapped key", n)
	}
	if n, err := pii.NewKeystore(pool, schema, both).Rotate(ctx); err != nil || n != 0 {
		t.Errorf("second Rotate: %d %v, want 0", n, err)
	}
	onlyNew := pii.NewKeystore(pool, schema, masterKeys(t, "m2"))
	for i, s := range sealed {
		got, err := onlyNew.Open(ctx, fmt.Sprintf("c-%d", i), "name", s)
		if i == 0 {
			if !errors.Is(err, pii.ErrErased) {
				t.Errorf("erased customer: %v", err)
			}
			continue
		}
		if err != nil || got != fmt.Sprintf("name %d", i) {
			t.Fatalf("c-%d with the new master only: %q %v", i, got, err)
		}
	}
}

var keys = map[string]string{}
var keysMu sync.Mutex

// masterKeys returns master keys with the given ids, one key per id for the whole test binary.
func masterKeys(t *testing.T, ids ...string) pii.MasterKeys {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	spec := ""
	for i, id := range ids {
		if keys[id] == "" {
			k, err := pii.GenerateMasterKey(id)
			if err != nil {
				t.Fatal(err)
			}
			keys[id] = k
		}
		if i > 0 {
			spec += ","
		}
		spec += keys[id]
	}
	m, err := pii.ParseMasterKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// migratedSchema is a fresh schema (dropped after the test) holding a migrated customer_keys:
// the context, the admin connection, a pool and the schema.
func migratedSchema(t *testing.T) (context.Context, *pgx.Conn, *pgxpool.Pool, string) {
	t.Helper()
	cfg := itest.Stack(t)
	ctx := itest.Context(t, 2*time.Minute)
	pg := itest.PG(t, cfg)
	schema := "pii_" + itest.Suffix()
	t.Cleanup(func() { pg.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) })
	pool, err := pgxpool.New(ctx, cfg.PGDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pii.NewKeystore(pool, schema, masterKeys(t, "m1")).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx, pg, pool, schema
}

func count(t *testing.T, ctx context.Context, pg *pgx.Conn, schema, where string) int {
	t.Helper()
	var n int
	if err := pg.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.customer_keys WHERE `+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
