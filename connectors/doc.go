// Package connectors owns orderflow's Kafka Connect side: the Debezium outbox connector
// configuration (outbox.json, the reviewed artifact) and a small client for the Connect REST API.
//
// It consumes the outbox table's change stream through Debezium's PostgreSQL connector and the
// Outbox Event Router, which emits one Kafka record per outbox row on
// orderflow.<aggregatetype>.events, keyed by aggregateid, with the payload bytes untouched and
// the event id (header "id"), type ("eventType") and trace context ("traceparent") as headers.
// It keeps no state of its own: Connect stores connector configs and source offsets.
package connectors
