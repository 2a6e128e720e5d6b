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
// truncated payload, unknown schema id, type mismatch, registry unavailable); nothing panics on
// bad input. Producers never register schemas: `orderflow schemas apply` does, behind the
// compatibility gate.
package codec
