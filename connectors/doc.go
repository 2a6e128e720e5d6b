// Package connectors owns orderflow's Kafka Connect side: the Debezium outbox connector
// configuration (outbox.json, the reviewed artifact), a small client for the Connect REST API,
// and the replication slot's health (WaitStreaming, Remove, and a Prometheus collector of the WAL
// each slot retains).
//
// It consumes the outbox table's change stream through Debezium's PostgreSQL connector and the
// Outbox Event Router, which emits one Kafka record per outbox INSERT on
// orderflow.<aggregatetype>.events, keyed by aggregateid, with the payload bytes untouched and
// the event id (header "id"), type ("eventType") and trace context ("traceparent") as headers.
// The DELETE that follows each INSERT in the same transaction is dropped by the router.
//
// Heartbeats keep the replication slot moving while the outbox is idle: every
// heartbeat.interval.ms Debezium runs heartbeat.action.query, which upserts the one row of
// <schema>.outbox_heartbeat (a table in the connector's publication, so its change reaches the
// connector; a Filter transform drops it before the router), and writes a heartbeat record to
// __debezium-heartbeat.<topic.prefix>, a one-partition compacted topic the connector creates (its
// only topic creation group; any other missing topic fails the task instead of being created).
// The heartbeat record must reach Kafka: Debezium confirms to PostgreSQL only the positions whose
// records Connect has committed.
//
// It keeps no state of its own: Connect stores connector configs and source offsets.
package connectors
