// Package streams is the shared wiring of orderflow's Goka processors: goka options with the
// project's sarama configuration and murmur2 hasher, the callback adapter that decodes inputs
// inside the callback and hands typed events to a processor's pure decision function, the
// metadata of emitted events (deterministic event ids, causation and correlation ids, trace
// context), and a JSON codec for internal processor state.
//
// Its consumer group (group.go) rides out a broker's failure, hands each partition's inputs to
// goka merged by record timestamp (merge.go), so that a replay after a crash meets them in the
// order the first run did, and commits an input's offset only once every earlier input of the
// partition is done, so no input is skipped whatever order the brokers acknowledge the emits in.
//
// A processor package provides Decide(state, event, at) → (state, emits); this package turns
// it into a goka.ProcessCallback. Bad input never panics: an undecodable message or a rejected
// event is reported to the processor's Poison handler and the partition goes on.
package streams
