package streams

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/topology"
)

// Dead-letter headers: where the message came from, who gave up on it and why.
const (
	HeaderDLQTopic     = "dlq.origin.topic"
	HeaderDLQPartition = "dlq.origin.partition"
	HeaderDLQOffset    = "dlq.origin.offset"
	HeaderDLQProcessor = "dlq.processor"
	HeaderDLQKind      = "dlq.error.kind"
	HeaderDLQMessage   = "dlq.error.message"
	HeaderDLQTime      = "dlq.time"
)

// DLQTopic returns the dead-letter topic of an input topic (<topic>.dlq).
func DLQTopic(topic goka.Stream) goka.Stream { return topic + topology.DLQSuffix }

// DeadLetter routes a poison message to <topic>.dlq with its key, its payload byte for byte, its
// original headers, and headers saying where it came from and why it was refused. The partition
// then goes on with the next message; `orderflow dlq replay` re-publishes after a fix.
//
// In a shadow topology (a rebuild) the dead letters go to the version's private copy of the DLQ.
func DeadLetter(t topology.Topology, processor string) Poison {
	return func(ctx goka.Context, raw []byte, kind string, err error) {
		headers := goka.Headers{}
		for k, v := range ctx.Headers() {
			headers[k] = v
		}
		headers[HeaderDLQTopic] = []byte(ctx.Topic())
		headers[HeaderDLQPartition] = []byte(strconv.Itoa(int(ctx.Partition())))
		headers[HeaderDLQOffset] = []byte(strconv.FormatInt(ctx.Offset(), 10))
		headers[HeaderDLQProcessor] = []byte(processor)
		headers[HeaderDLQKind] = []byte(kind)
		headers[HeaderDLQMessage] = []byte(err.Error())
		headers[HeaderDLQTime] = []byte(time.Now().UTC().Format(time.RFC3339Nano))
		slog.Warn("message dead-lettered", "processor", processor, "topic", ctx.Topic(), "partition", ctx.Partition(),
			"offset", ctx.Offset(), "kind", kind, "err", err)
		ctx.Emit(t.DLQ(processor, ctx.Topic()), ctx.Key(), raw, goka.WithCtxEmitHeaders(headers))
	}
}

// DefineGroup defines processor of topology t: its group at its table version, every input read
// as bytes by cb, every output written as bytes (to the version's private copies in a shadow
// topology), a dead-letter output per input, and the group table with the given codec.
func DefineGroup(t topology.Topology, processor string, table goka.Codec, cb goka.ProcessCallback, inputs []goka.Stream, outputs ...goka.Stream) *goka.GroupGraph {
	edges := []goka.Edge{goka.Persist(Tolerant(table))}
	for _, in := range inputs {
		edges = append(edges, goka.Input(in, Bytes(), cb))
	}
	for _, out := range outputs {
		edges = append(edges, goka.Output(t.Out(processor, out), Bytes()))
	}
	for _, in := range inputs {
		edges = append(edges, goka.Output(t.DLQ(processor, in), Bytes()))
	}
	return goka.DefineGroup(t.Group(processor), edges...)
}
