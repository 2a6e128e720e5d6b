CREATE TABLE IF NOT EXISTS {{schema}}.orders (
    order_id        text        PRIMARY KEY,
    customer_id     text        NOT NULL,
    currency        text        NOT NULL,
    total_minor     bigint      NOT NULL
                    CONSTRAINT orders_total_minor_range CHECK (total_minor >= 0 AND total_minor <= 1000000000000000),
    placed_at       timestamptz NOT NULL,
    idempotency_key text        UNIQUE,
    request_hash    text        NOT NULL
);

-- Tables created before the total's CHECK get it here (once: the catalog is checked first, and a
-- concurrent migration that adds it first is not an error). The bound is schemas.MaxTotalMinor.
-- NOT VALID: new and updated rows are checked; rows stored before are not scanned, so a
-- migration never fails on old data (VALIDATE CONSTRAINT checks them once they are cleaned).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '{{schema}}.orders'::regclass AND conname = 'orders_total_minor_range') THEN
        ALTER TABLE {{schema}}.orders ADD CONSTRAINT orders_total_minor_range
            CHECK (total_minor >= 0 AND total_minor <= 1000000000000000) NOT VALID;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;
END $$;

-- Personal data of an order, sealed by internal/pii ("pii1.…" with the customer's data key; see
-- processors/orders/personal.go), never plaintext; NULL when the order did not carry the field.
-- Erasing the customer destroys its keys, so these read as erased without touching the rows.
ALTER TABLE {{schema}}.orders ADD COLUMN IF NOT EXISTS customer_name_sealed    text NULL;
ALTER TABLE {{schema}}.orders ADD COLUMN IF NOT EXISTS customer_email_sealed   text NULL;
ALTER TABLE {{schema}}.orders ADD COLUMN IF NOT EXISTS shipping_address_sealed text NULL;

CREATE TABLE IF NOT EXISTS {{schema}}.order_lines (
    order_id         text    NOT NULL REFERENCES {{schema}}.orders(order_id),
    line_no          int     NOT NULL,
    sku              text    NOT NULL,
    quantity         int     NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint  NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (order_id, line_no)
);

-- One row per SKU whose stock was ever set: the version of its latest setting. SetStock bumps it
-- in the transaction that writes the StockAdjusted outbox row; the row lock orders concurrent
-- settings of one SKU, so versions follow commit order (and Debezium's capture order).
CREATE TABLE IF NOT EXISTS {{schema}}.stock_versions (
    sku     text   PRIMARY KEY,
    version bigint NOT NULL
);

-- One row per return a customer asked for (RequestReturn): the return id is
-- schemas.ReturnID(order_id, idempotency_key), so a retried request finds its row; request_hash
-- tells a retry from another request under the same key. received_condition is set once, by
-- ReceiveReturn (in the transaction that writes the ReturnReceived outbox row).
CREATE TABLE IF NOT EXISTS {{schema}}.returns (
    return_id          text        PRIMARY KEY,
    order_id           text        NOT NULL REFERENCES {{schema}}.orders(order_id),
    idempotency_key    text        NOT NULL,
    request_hash       text        NOT NULL,
    received_condition text        NULL,
    requested_at       timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS returns_order_id ON {{schema}}.returns (order_id);
