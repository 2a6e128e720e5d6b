// Package orders is the order service's write side: it stores an order, its lines and its
// OrderPlaced outbox event in ONE PostgreSQL transaction, and stock settings with their
// StockAdjusted outbox event likewise. It is where the pipeline begins: Debezium captures the
// outbox rows it writes.
//
// Consumes: API requests. Keeps: tables orders and order_lines (in the same schema as the
// outbox). Emits: outbox rows (aggregate "order" keyed by order id, aggregate "stock" keyed by
// SKU) carrying Avro payloads on the registry's wire format.
//
// Idempotency: a request with an Idempotency-Key is stored with the order; retrying it returns
// the same order and writes no second event. Reusing a key for a different request is an error.
package orders
