package streams

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/pipelines/topology"
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

// DLQOutputs declares the dead-letter topics of a processor's inputs as goka outputs.
func DLQOutputs(inputs ...goka.Stream) []goka.Edge {
	out := make([]goka.Edge, len(inputs))
	for i, in := range inputs {
		out[i] = goka.Output(DLQTopic(in), Bytes())
	}
	return out
}

// DeadLetter routes a poison message to <topic>.dlq with its key, its payload byte for byte, its
// original headers, and headers saying where it came from and why it was refused. The partition
// then goes on with the next message; `orderflow dlq replay` re-publishes after a fix.
func DeadLetter(processor string) Poison {
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
		ctx.Emit(DLQTopic(ctx.Topic()), ctx.Key(), raw, goka.WithCtxEmitHeaders(headers))
	}
}

// DefineGroup defines an orderflow processor: every input read as bytes by cb, every output
// written as bytes, a dead-letter output per input, and the group table with the given codec.
func DefineGroup(group goka.Group, table goka.Codec, cb goka.ProcessCallback, inputs []goka.Stream, outputs ...goka.Stream) *goka.GroupGraph {
	edges := []goka.Edge{goka.Persist(table)}
	for _, in := range inputs {
		edges = append(edges, goka.Input(in, Bytes(), cb))
	}
	for _, out := range outputs {
		edges = append(edges, goka.Output(out, Bytes()))
	}
	edges = append(edges, DLQOutputs(inputs...)...)
	return goka.DefineGroup(group, edges...)
}
