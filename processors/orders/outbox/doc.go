// Package outbox is the start of orderflow's pipeline: the transactional outbox table and the
// code that writes to it.
//
// A service writes its state change and one outbox row in the same PostgreSQL transaction (Insert
// takes the caller's pgx.Tx; Queue adds to the caller's batch). Each row is deleted again in the
// transaction that inserts it, so the table stays empty: Debezium streams the INSERT from the WAL,
// and the Outbox Event Router ignores the DELETE. The outbox refuses UPDATE (a trigger), because
// the router drops updates and an updated event would silently never reach Kafka.
//
// Columns: id (event id, uuid) · aggregatetype (routes to topic orderflow.<aggregatetype>.events)
// · aggregateid (Kafka key) · type (event type, header eventType) · payload (bytea, the Kafka
// value byte for byte) · occurred_at · tracingspancontext (W3C traceparent, header traceparent).
//
// Migrate also creates outbox_heartbeat, the one-row table the connector's heartbeat query
// upserts so that the replication slot advances while the outbox is idle.
package outbox
