// Package codec encodes orderflow's typed events (package schemas) as Avro on the Confluent wire
// format — magic byte 0, 4-byte big-endian schema id, Avro binary — and decodes them back.
//
// It consumes schema ids from a Confluent-compatible registry (srclient), keeps caches of
// id → writer schema and type → id, and emits typed Go values. Decoding resolves the writer's
// schema against the current (reader) schema: fields the writer lacked take the reader's
// defaults and unknown enum symbols take the enum's default symbol. That is the upcasting path
// that lets current code read every registered version of an event.
//
// Decode errors are values of type *DecodeError whose Kind says what is wrong (bad magic byte,
// truncated payload, oversized, unknown schema id, type mismatch, registry unavailable); nothing
// panics on bad input, and no payload makes a decode allocate more than a small multiple of its
// size: every length and block count is checked against the bytes left before goavro decodes
// (bounds.go). Producers never register schemas: `orderflow schemas apply` does, behind the
// compatibility gate.
package codec
