-- The transactional outbox. Debezium's Outbox Event Router reads these columns by name.
CREATE SCHEMA IF NOT EXISTS {{schema}};

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
CREATE OR REPLACE FUNCTION {{schema}}.outbox_insert_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'outbox is insert-only: % is not allowed', TG_OP;
END;
$$;

DROP TRIGGER IF EXISTS outbox_insert_only ON {{schema}}.outbox;
CREATE TRIGGER outbox_insert_only BEFORE UPDATE ON {{schema}}.outbox
    FOR EACH ROW EXECUTE FUNCTION {{schema}}.outbox_insert_only();
