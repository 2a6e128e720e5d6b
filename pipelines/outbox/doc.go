// Package outbox is the start of orderflow's pipeline: the transactional outbox table and the
// code that writes to it.
//
// A service writes its state change and one outbox row in the same PostgreSQL transaction (Insert
// takes the caller's pgx.Tx). Debezium captures the inserted rows; the outbox is insert-only
// (a trigger refuses UPDATE) because the Outbox Event Router ignores updates and deletes.
// Rows may be deleted once captured, which the router ignores.
//
// Columns: id (event id, uuid) · aggregatetype (routes to topic orderflow.<aggregatetype>.events)
// · aggregateid (Kafka key) · type (event type, header eventType) · payload (bytea, the Kafka
// value byte for byte) · occurred_at · tracingspancontext (W3C traceparent, header traceparent).
package outbox
