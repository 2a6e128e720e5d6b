package pii

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// migrateSQL creates the schema (only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on
// the database even when the schema exists), the table and the index allowing one live key per
// customer. The checks keep a live key wrapped and an erased one without its wrapped key.
const migrateSQL = `
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{{schema}}') THEN
    CREATE SCHEMA {{schema}};
  END IF;
END $$;

CREATE TABLE IF NOT EXISTS {{schema}}.customer_keys (
    key_id      uuid        PRIMARY KEY,
    customer_id text        NOT NULL,
    master_id   text,
    wrapped     bytea       NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz NULL,
    CONSTRAINT customer_keys_live_is_wrapped CHECK (erased_at IS NOT NULL OR (wrapped IS NOT NULL AND master_id IS NOT NULL)),
    CONSTRAINT customer_keys_erased_is_destroyed CHECK (erased_at IS NULL OR wrapped IS NULL)
);

CREATE UNIQUE INDEX IF NOT EXISTS customer_keys_one_live
    ON {{schema}}.customer_keys (customer_id) WHERE erased_at IS NULL;
`

// pgStore keeps the keys in schema.customer_keys.
type pgStore struct {
	db     *pgxpool.Pool
	schema string
}

func (s *pgStore) table() (string, error) {
	if !schemaName.MatchString(s.schema) {
		return "", fmt.Errorf("pii: invalid schema name %q", s.schema)
	}
	return s.schema + ".customer_keys", nil
}

func (s *pgStore) migrate(ctx context.Context) error {
	if _, err := s.table(); err != nil {
		return err
	}
	// Serialised: concurrent CREATE … IF NOT EXISTS of one table can still collide.
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "orderflow.pii.migrate."+s.schema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, strings.ReplaceAll(migrateSQL, "{{schema}}", s.schema))
		return err
	})
	if err != nil {
		return fmt.Errorf("pii: migrate %s.customer_keys: %w", s.schema, err)
	}
	return nil
}

func (s *pgStore) live(ctx context.Context, customer string) (keyRecord, bool, error) {
	t, err := s.table()
	if err != nil {
		return keyRecord{}, false, err
	}
	rec := keyRecord{customer: customer}
	err = s.db.QueryRow(ctx, `SELECT key_id, master_id, wrapped FROM `+t+`
		WHERE customer_id = $1 AND erased_at IS NULL`, customer).Scan(&rec.id, &rec.masterID, &rec.wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return keyRecord{}, false, nil
	}
	if err != nil {
		return keyRecord{}, false, err
	}
	return rec, true, nil
}

func (s *pgStore) create(ctx context.Context, rec keyRecord) error {
	t, err := s.table()
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO `+t+` (key_id, customer_id, master_id, wrapped, created_at)
		VALUES ($1, $2, $3, $4, now())
		ON CONFLICT (customer_id) WHERE erased_at IS NULL DO NOTHING`, rec.id, rec.customer, rec.masterID, rec.wrapped)
	return err
}

func (s *pgStore) get(ctx context.Context, id uuid.UUID) (keyRecord, bool, error) {
	t, err := s.table()
	if err != nil {
		return keyRecord{}, false, err
	}
	rec := keyRecord{id: id}
	err = s.db.QueryRow(ctx, `SELECT customer_id, coalesce(master_id, ''), wrapped, erased_at IS NOT NULL FROM `+t+`
		WHERE key_id = $1`, id).Scan(&rec.customer, &rec.masterID, &rec.wrapped, &rec.erased)
	if errors.Is(err, pgx.ErrNoRows) {
		return keyRecord{}, false, nil
	}
	if err != nil {
		return keyRecord{}, false, err
	}
	return rec, true, nil
}

func (s *pgStore) erase(ctx context.Context, customer string, then func(tx pgx.Tx, keys int) error) (int, error) {
	t, err := s.table()
	if err != nil {
		return 0, err
	}
	var n int
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE `+t+` SET wrapped = NULL, erased_at = now()
			WHERE customer_id = $1 AND erased_at IS NULL`, customer)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		if then != nil {
			return then(tx, n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (s *pgStore) rotateBatch(ctx context.Context, current string, after uuid.UUID, limit int,
	rewrap func(keyRecord) ([]byte, bool)) (last uuid.UUID, listed, stored int, err error) {
	t, err := s.table()
	if err != nil {
		return after, 0, 0, err
	}
	last = after
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT key_id, customer_id, master_id, wrapped FROM `+t+`
			WHERE erased_at IS NULL AND master_id <> $1 AND key_id > $2
			ORDER BY key_id LIMIT $3`, current, after, limit)
		if err != nil {
			return err
		}
		recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyRecord, error) {
			var rec keyRecord
			err := r.Scan(&rec.id, &rec.customer, &rec.masterID, &rec.wrapped)
			return rec, err
		})
		if err != nil {
			return err
		}
		listed = len(recs)
		batch := &pgx.Batch{}
		for _, rec := range recs {
			last = rec.id
			wrapped, ok := rewrap(rec)
			if !ok {
				continue
			}
			batch.Queue(`UPDATE `+t+` SET master_id = $1, wrapped = $2
				WHERE key_id = $3 AND master_id = $4 AND erased_at IS NULL`, current, wrapped, rec.id, rec.masterID)
		}
		if batch.Len() == 0 {
			return nil
		}
		br := tx.SendBatch(ctx, batch)
		n := 0
		for range batch.Len() {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			n += int(tag.RowsAffected())
		}
		if err := br.Close(); err != nil {
			return err
		}
		stored = n
		return nil
	})
	if err != nil {
		return after, 0, 0, err
	}
	return last, listed, stored, nil
}
