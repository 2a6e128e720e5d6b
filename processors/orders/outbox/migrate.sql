-- The transactional outbox. Debezium's Outbox Event Router reads these columns by name.
-- created only when missing: CREATE SCHEMA IF NOT EXISTS would need CREATE on the database even
-- when the schema exists, which the application role (owner of its schema only) does not have
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{{schema}}') THEN
    CREATE SCHEMA {{schema}};
  END IF;
END $$;

CREATE TABLE IF NOT EXISTS {{schema}}.outbox (
    id                 uuid        PRIMARY KEY,
    aggregatetype      text        NOT NULL,
    aggregateid        text        NOT NULL,
    type               text        NOT NULL,
    payload            bytea       NOT NULL,
    occurred_at        timestamptz NOT NULL DEFAULT now(),
    tracingspancontext text
);

-- Insert-only: the router drops updates, so an UPDATE would silently never reach Kafka.
-- DELETE stays allowed: Insert and Queue delete each row in the transaction that inserts it,
-- which keeps the table empty. Logical decoding still streams the INSERT from the WAL, and the
-- router ignores the DELETE (the connector has tombstones.on.delete=false). Deleting an older
-- row is harmless too: its INSERT is in the WAL whether the row stays or not.
CREATE OR REPLACE FUNCTION {{schema}}.outbox_insert_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'outbox is insert-only: % is not allowed', TG_OP;
END;
$$;

DROP TRIGGER IF EXISTS outbox_insert_only ON {{schema}}.outbox;
CREATE TRIGGER outbox_insert_only BEFORE UPDATE ON {{schema}}.outbox
    FOR EACH ROW EXECUTE FUNCTION {{schema}}.outbox_insert_only();

-- Heartbeat: the connector's heartbeat.action.query upserts this one row every
-- heartbeat.interval.ms (connectors/outbox.json). The table is in the connector's
-- table.include.list, hence in its filtered publication, so the change reaches Debezium while the
-- outbox is idle and the replication slot's confirmed position moves on (a table outside the
-- publication would never be decoded for the slot, and WAL would pile up behind it). The
-- connector drops the change before the outbox router: it never reaches a topic.
CREATE TABLE IF NOT EXISTS {{schema}}.outbox_heartbeat (
    id      smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    beat_at timestamptz NOT NULL DEFAULT now()
);
