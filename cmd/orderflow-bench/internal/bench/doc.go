// Package bench measures orderflow on the real local stack, each figure as a ratio against a
// baseline measured in the same run on the same topics (absolute times drift on a shared
// machine).
//
// Consumes: a private deployment (topics under its own prefix, its own outbox schema and
// connector) that it creates and deletes; the processors run in `orderflow run` processes of the
// product binary, so what is measured is what runs. Keeps: nothing beyond a run. Emits: Result values (JSON under
// cmd/orderflow-bench/results/), and Report turns them into BENCHMARKS.md with PNG plots.
//
// Every benchmark counts what went in and what came out and fails when an event is lost or
// duplicated; none asserts anything about speed.
package bench
