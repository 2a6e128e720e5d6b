package streams

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"maps"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lovoo/goka"
	gokacodec "github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/tracing"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Header names shared with Debezium's outbox router.
const (
	HeaderEventID     = "id"
	HeaderEventType   = "eventType"
	HeaderTraceParent = "traceparent"
)

// Hasher is the Java-compatible murmur2 hasher every goka processor, view and emitter uses.
func Hasher() func() hash.Hash32 { return kafka.NewMurmur2Hasher }

// ProcessorOptions returns goka options with orderflow's sarama config (Kafka 4 protocol,
// murmur2 placement, streams of a new group read from the oldest offset), storage under
// stateDir/<group> and topic management as kafka.EnsureTopics does it (see topicManagerConfig).
func ProcessorOptions(brokers []string, group goka.Group, stateDir string) []goka.ProcessorOption {
	consumer := kafka.NewSaramaConfig(string(group))
	producer := kafka.NewProcessorProducerConfig(string(group))
	tm := topicManagerConfig(brokers)
	return []goka.ProcessorOption{
		goka.WithHasher(Hasher()),
		goka.WithConsumerGroupBuilder(consumerGroupBuilder(consumer)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(kafka.NewSaramaConfig(string(group) + "-tables"))),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(producer)),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(kafka.NewSaramaConfig(string(group)+"-tm"), tm)),
		goka.WithStorageBuilder(storage.BuilderWithOptions(filepath.Join(stateDir, string(group)), storageOptions())),
		goka.WithLogger(gokaLogger{slog.Default().With("group", string(group))}),
	}
}

// LevelDB sizes of every table partition's local store. One process opens a store per partition
// of every table it keeps (5 processors and 2 views × 6 partitions = 42): with LevelDB's defaults
// (4 MiB write buffer, 8 MiB block cache each) the idle process held ~300 MiB of write buffers
// alone. Values here are small (an order's status, a SKU's ledger), so 1 MiB buffers flush often
// enough and keep memory bounded by the partition count, not by the backlog.
const (
	storageWriteBuffer = 1 << 20
	storageBlockCache  = 2 << 20
)

// StorageSettings describes the local table storage (for benchmark reports).
func StorageSettings() string {
	return fmt.Sprintf("LevelDB per table partition: %d KiB write buffer, %d KiB block cache, no compression",
		storageWriteBuffer>>10, storageBlockCache>>10)
}

func storageOptions() *opt.Options {
	return &opt.Options{WriteBuffer: storageWriteBuffer, BlockCacheCapacity: storageBlockCache, Compression: opt.NoCompression}
}

// ViewOptions returns goka view options matching ProcessorOptions.
func ViewOptions(brokers []string, name, stateDir string) []goka.ViewOption {
	tm := topicManagerConfig(brokers)
	return []goka.ViewOption{
		goka.WithViewHasher(Hasher()),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(kafka.NewSaramaConfig("view-" + name))),
		goka.WithViewTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(kafka.NewSaramaConfig("view-"+name+"-tm"), tm)),
		goka.WithViewStorageBuilder(storage.BuilderWithOptions(filepath.Join(stateDir, "views", name), storageOptions())),
		goka.WithViewLogger(gokaLogger{slog.Default().With("view", name)}),
		goka.WithViewAutoReconnect(),
	}
}

// topicManagerConfig makes goka create a missing topic (topology.Apply normally creates them all
// first) as kafka.EnsureTopics would: the cluster's replication factor and event retention
// (goka's default would keep a stream for one hour only).
func topicManagerConfig(brokers []string) *goka.TopicManagerConfig {
	tm := goka.NewTopicManagerConfig()
	rep := kafka.Replication{Factor: 1}
	if admin, err := kafka.NewAdmin(brokers); err == nil {
		if r, err := kafka.ClusterReplication(admin); err == nil {
			rep = r
		}
		admin.Close()
	}
	tm.Table.Replication = int(rep.Factor)
	tm.Stream.Replication = int(rep.Factor)
	tm.Stream.Retention = kafka.EventRetention()
	return tm
}

type gokaLogger struct{ l *slog.Logger }

func (g gokaLogger) Print(v ...interface{})                 { g.l.Debug(fmt.Sprint(v...)) }
func (g gokaLogger) Println(v ...interface{})               { g.l.Debug(fmt.Sprint(v...)) }
func (g gokaLogger) Printf(format string, v ...interface{}) { g.l.Debug(fmt.Sprintf(format, v...)) }

// Emit is one event a decision wants written.
type Emit struct {
	Topic goka.Stream
	Key   string
	Event schemas.Event
}

// Message is what a decision sees of the input besides the event.
type Message struct {
	Topic     string
	Key       string
	Partition int32
	Offset    int64
	Timestamp time.Time // the Kafka record's timestamp: decisions use it as "now" so replay is deterministic
	// Replay is set by DurableCallback for an input this key's state has already applied (it is
	// delivered again after a crash, before its offset was committed). The decision must then
	// change nothing and return the emits the input caused, as the current state implies them,
	// with the same event ids: an emit lost in the crash is sent again, a copy is ignored.
	Replay bool
}

// ErrRejected marks an event that decodes but violates an invariant (e.g. quantity ≤ 0); it is
// poison, not transient.
var ErrRejected = errors.New("event rejected")

// Rejectf returns an ErrRejected with a reason.
func Rejectf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

// Poison is called for a message the processor cannot handle (undecodable or rejected) with its
// raw payload; the partition goes on with the next message.
type Poison func(ctx goka.Context, raw []byte, kind string, err error)

// LogPoison logs and skips.
func LogPoison(processor string) Poison {
	return func(ctx goka.Context, _ []byte, kind string, err error) {
		slog.Warn("poison message skipped", "processor", processor, "topic", ctx.Topic(),
			"partition", ctx.Partition(), "offset", ctx.Offset(), "kind", kind, "err", err)
	}
}

// Decider is a processor's pure decision: given its state for the key (nil when none), one
// event and the message, it returns the new state (nil to leave it unchanged) and the events
// to emit.
type Decider[S any] func(state *S, ev schemas.Event, msg Message) (*S, []Emit, error)

// Callback adapts a Decider to goka: decode inside the callback (a bad payload is poison, not a
// codec panic), skip non-events, run the decision, write state, emit with headers (event id and
// type; the input's trace context carried on). The group table holds S itself.
//
// accepts, when given, are the event types the decision acts on: an input whose eventType header
// names another type is passed over without being decoded (most inputs of a processor are events
// it does not act on, e.g. reservations reading every payment event for the rare decline). An
// input without the header is decoded as usual.
func Callback[S any](env Env, processor string, decide Decider[S], accepts ...schemas.Event) goka.ProcessCallback {
	h := newHandler(env, processor, decide, accepts)
	return func(ctx goka.Context, msg any) {
		if h.skips(ctx) {
			return
		}
		var state *S
		v := ctx.Value()
		if h.corrupt(ctx, msg, v) {
			return
		}
		if v != nil {
			s := v.(S)
			state = &s
		}
		changed := h.handle(ctx, msg, state, false, func(s S) { ctx.SetValue(s) })
		if !changed && state != nil {
			// A redelivered input after a crash: the local table may hold its effect while the
			// table topic (what views read) lost the write. Writing the value again heals that.
			ctx.SetValue(*state)
		}
	}
}

// Envelope is the table value of a processor run by DurableCallback: its state and, per input
// topic, the highest offset of an input that changed the state or emitted. Its size depends on
// the number of input topics, never on history.
type Envelope[S any] struct {
	State   S                `json:"state"`
	Offsets map[string]int64 `json:"offsets,omitempty"`
}

// advanced is the envelope after an input of topic at offset left the state s.
func (e Envelope[S]) advanced(s S, topic string, offset int64) Envelope[S] {
	next := Envelope[S]{State: s, Offsets: make(map[string]int64, len(e.Offsets)+1)}
	maps.Copy(next.Offsets, e.Offsets)
	next.Offsets[topic] = offset
	return next
}

// stateAfter is the state an input that changed something or emitted leaves: the decision's new
// state, or the one it had (a zero state for a key without one) when it only emitted.
func stateAfter[S any](next, state *S) *S {
	if next != nil {
		return next
	}
	if state != nil {
		return state
	}
	return new(S)
}

// DurableCallback is Callback for processors whose emits must survive a crash. Goka writes the
// table and the emits concurrently and commits the input offset after both; a kill -9 in between
// may keep the new state and lose an emit. On restart the input is delivered again: the
// envelope's offsets recognise the replay (whatever the traffic on the key: a key's inputs on
// one topic all come from one partition, in offset order), and the decision is asked, with
// Message.Replay set, for the emits the input caused. It returns them as the current state
// implies them, with the same deterministic event ids, so a lost emit is sent again and a copy is
// ignored downstream; nothing is recorded per emit, so the value stays small.
//
// accepts is as for Callback.
func DurableCallback[S any](env Env, processor string, decide Decider[S], accepts ...schemas.Event) goka.ProcessCallback {
	h := newHandler(env, processor, decide, accepts)
	return func(ctx goka.Context, msg any) {
		if h.skips(ctx) {
			return
		}
		var env Envelope[S]
		var state *S
		v := ctx.Value()
		if h.corrupt(ctx, msg, v) {
			return
		}
		if v != nil {
			env = v.(Envelope[S])
			state = &env.State
		}
		topic := string(ctx.Topic())
		last, seen := env.Offsets[topic]
		replay := seen && ctx.Offset() <= last
		h.handle(ctx, msg, state, replay, func(s S) { ctx.SetValue(env.advanced(s, topic, ctx.Offset())) })
		if replay {
			slog.Info("replayed input after a restart; its emits sent again", "processor", processor,
				"topic", topic, "offset", ctx.Offset(), "key", ctx.Key())
			ctx.SetValue(env) // the table topic may have lost the write the local table kept
		}
	}
}

type handler[S any] struct {
	env       Env
	processor string
	decide    Decider[S]
	poison    Poison
	accepts   map[string]bool // event types decided on; nil: all
}

func newHandler[S any](env Env, processor string, decide Decider[S], accepts []schemas.Event) *handler[S] {
	poison := env.Poison
	if poison == nil {
		poison = LogPoison(processor)
	}
	if m := env.Metrics; m != nil {
		inner := poison
		poison = func(ctx goka.Context, raw []byte, kind string, err error) {
			m.DeadLettered.WithLabelValues(processor, string(ctx.Topic()), kind).Inc()
			inner(ctx, raw, kind, err)
		}
	}
	h := &handler[S]{env: env, processor: processor, decide: decide, poison: poison}
	if len(accepts) > 0 {
		h.accepts = map[string]bool{}
		for _, ev := range accepts {
			h.accepts[strings.TrimPrefix(ev.AvroName(), schemas.Namespace+".")] = true
		}
	}
	return h
}

// CorruptValue is what a group table read through Tolerant holds for a value its codec cannot
// decode.
type CorruptValue struct{ Err error }

// Tolerant wraps a table codec: a value it cannot decode reads as a CorruptValue instead of an
// error, which goka would turn into a stop of the whole processor (and a crash loop on restart).
func Tolerant(c goka.Codec) goka.Codec { return tolerant{c} }

type tolerant struct{ goka.Codec }

func (t tolerant) Decode(data []byte) (any, error) {
	v, err := t.Codec.Decode(data)
	if err != nil {
		return CorruptValue{Err: err}, nil
	}
	return v, nil
}

// corrupt dead-letters an input whose key's table value cannot be decoded (kind
// corrupt_table_value): the key's inputs wait in the dead-letter topic for a fix (a rebuild, or
// a replay once the value is repaired) while the partition goes on.
func (h *handler[S]) corrupt(ctx goka.Context, msg, value any) bool {
	cv, ok := value.(CorruptValue)
	if !ok {
		return false
	}
	data, _ := msg.([]byte)
	h.poison(ctx, data, "corrupt_table_value", fmt.Errorf("table value of key %q: %w", ctx.Key(), cv.Err))
	return true
}

// decide runs the decision; a panic in it is returned as an error (the message is dead-lettered
// with kind "panic" instead of stopping the processor).
func (h *handler[S]) decideSafely(state *S, ev schemas.Event, msg Message) (next *S, emits []Emit, err error) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("decision panicked", "processor", h.processor, "topic", msg.Topic, "partition", msg.Partition,
				"offset", msg.Offset, "panic", r, "stack", string(debug.Stack()))
			next, emits, err = nil, nil, &panicError{r}
		}
	}()
	return h.decide(state, ev, msg)
}

type panicError struct{ v any }

func (p *panicError) Error() string { return fmt.Sprintf("decision panicked: %v", p.v) }

// skips reports an input whose eventType header names a type the processor does not act on; it
// is counted as processed and not even decoded.
func (h *handler[S]) skips(ctx goka.Context) bool {
	if h.accepts == nil {
		return false
	}
	typ, ok := ctx.Headers()[HeaderEventType]
	if !ok || h.accepts[string(typ)] {
		return false
	}
	if c, known := h.env.Contracts[string(ctx.Topic())]; known && !slices.Contains(c, string(typ)) {
		return false // a type foreign to the topic: decoded, and dead-lettered if it is one
	}
	if m := h.env.Metrics; m != nil {
		m.Processed.WithLabelValues(h.processor, string(ctx.Topic())).Inc()
	}
	return true
}

// handle takes one input through the kernel's steps around the pure decision, each a method of
// its own with one concern:
//
//	count → trace → decode (bounded; poison on failure) → check the topic's contract →
//	decide (a panic is poison) → encode the emits → store the state → emit
//
// Every step that refuses the input dead-letters it (h.poison) and ends the input there. It
// stores the new state with store (when the input changed it or emitted; never for a replay)
// and reports whether store was called.
func (h *handler[S]) handle(ctx goka.Context, msg any, state *S, replay bool, store func(S)) bool {
	h.count(ctx)
	data, _ := msg.([]byte)
	traceparent, end := h.trace(ctx)
	defer end()
	ev, ok := h.decode(ctx, data)
	if !ok || !h.withinContract(ctx, data, ev) {
		return true
	}
	next, emits, ok := h.decideOrPoison(ctx, data, state, ev, replay)
	if !ok {
		return true
	}
	out := h.encode(ctx, emits, traceparent)
	stored := false
	if !replay && (next != nil || len(emits) > 0) {
		store(*stateAfter(next, state))
		stored = true
	}
	h.emit(ctx, out)
	return stored
}

// count counts the input as processed.
func (h *handler[S]) count(ctx goka.Context) {
	if m := h.env.Metrics; m != nil {
		m.Processed.WithLabelValues(h.processor, string(ctx.Topic())).Inc()
	}
}

// trace continues the input's trace with a span of the processor's and returns the traceparent
// the emits carry (the input's own without a tracer) and the span's end.
func (h *handler[S]) trace(ctx goka.Context) (traceparent string, end func()) {
	traceparent = string(ctx.Headers()[HeaderTraceParent])
	if h.env.Tracer == nil {
		return traceparent, func() {}
	}
	sctx, span := h.env.Tracer.Start(tracing.FromTraceparent(ctx.Context(), traceparent), h.processor+" process",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.destination.name", string(ctx.Topic())),
			attribute.Int("messaging.kafka.destination.partition", int(ctx.Partition())),
			attribute.Int64("messaging.kafka.message.offset", ctx.Offset()),
			attribute.String("messaging.kafka.message.key", ctx.Key())))
	if tp := tracing.Traceparent(sctx); tp != "" {
		traceparent = tp
	}
	return traceparent, func() { span.End() }
}

// decode decodes the payload into an event; an undecodable payload is poison with its kind. A
// registry still unreachable after retrying stops the processor instead (ctx.Fail), so the
// message is redelivered after a restart rather than dead-lettered for a cause not its own.
func (h *handler[S]) decode(ctx goka.Context, data []byte) (schemas.Event, bool) {
	decoded, err := decodeRetrying(ctx.Context(), h.env.Serde, data)
	if err != nil {
		if codec.IsTransient(err) {
			ctx.Fail(fmt.Errorf("decode: registry still unavailable: %w", err))
		}
		if m := h.env.Metrics; m != nil {
			m.DecodeErrors.WithLabelValues(h.processor, string(codec.KindOf(err))).Inc()
		}
		h.poison(ctx, data, string(codec.KindOf(err)), err)
		return nil, false
	}
	ev, ok := decoded.(schemas.Event)
	if !ok {
		h.poison(ctx, data, "not_an_event", fmt.Errorf("%s is not an event", decoded.AvroName()))
	}
	return ev, ok
}

// withinContract reports whether the topic carries events of ev's type (Env.Contracts); an
// event of another type is poison.
func (h *handler[S]) withinContract(ctx goka.Context, data []byte, ev schemas.Event) bool {
	c, known := h.env.Contracts[string(ctx.Topic())]
	if !known {
		return true
	}
	if name := strings.TrimPrefix(ev.AvroName(), schemas.Namespace+"."); !slices.Contains(c, name) {
		h.poison(ctx, data, "wrong_schema_for_topic", fmt.Errorf("a %s on %s, which carries %v", name, ctx.Topic(), c))
		return false
	}
	return true
}

// decideOrPoison runs the decision; a refusal is poison (kind rejected, panic or
// decision_error). An input that changes nothing and emits nothing is counted as a duplicate.
func (h *handler[S]) decideOrPoison(ctx goka.Context, data []byte, state *S, ev schemas.Event, replay bool) (*S, []Emit, bool) {
	next, emits, err := h.decideSafely(state, ev, Message{Topic: string(ctx.Topic()), Key: ctx.Key(),
		Partition: ctx.Partition(), Offset: ctx.Offset(), Timestamp: ctx.Timestamp(), Replay: replay})
	if err != nil {
		kind := "rejected"
		var pe *panicError
		switch {
		case errors.As(err, &pe):
			kind = "panic"
		case !errors.Is(err, ErrRejected):
			kind = "decision_error"
		}
		h.poison(ctx, data, kind, err)
		return nil, nil, false
	}
	if next == nil && len(emits) == 0 && h.env.Metrics != nil {
		h.env.Metrics.Duplicates.WithLabelValues(h.processor).Inc()
	}
	return next, emits, true
}

// encoded is an emit ready to be written.
type encoded struct {
	topic, key string
	value      []byte
	headers    goka.Headers
}

// encode encodes every emit with the headers consumers rely on: event id and type, and the trace
// context. An emit that cannot be encoded (the registry gone for good) stops the processor.
func (h *handler[S]) encode(ctx goka.Context, emits []Emit, traceparent string) []encoded {
	out := make([]encoded, 0, len(emits))
	for _, e := range emits {
		payload, err := encodeRetrying(ctx.Context(), h.env.Serde, e.Event)
		if err != nil {
			ctx.Fail(fmt.Errorf("encode %s: %w", e.Event.AvroName(), err))
		}
		hdr := goka.Headers{
			HeaderEventID:   []byte(e.Event.Metadata().EventID),
			HeaderEventType: []byte(e.Event.Metadata().EventType),
		}
		if traceparent != "" {
			hdr[HeaderTraceParent] = []byte(traceparent)
		}
		out = append(out, encoded{string(e.Topic), e.Key, payload, hdr})
	}
	return out
}

// emit writes the encoded emits and counts them.
func (h *handler[S]) emit(ctx goka.Context, out []encoded) {
	for _, o := range out {
		ctx.Emit(goka.Stream(o.topic), o.key, o.value, goka.WithCtxEmitHeaders(o.headers))
		if m := h.env.Metrics; m != nil {
			m.Emitted.WithLabelValues(h.processor, o.topic).Inc()
		}
	}
}

// decodeRetrying decodes, retrying while the registry is unreachable (see retryTransient). A
// panic inside the decoder is a decode error of kind "panic", not a stop of the process.
func decodeRetrying(ctx context.Context, serde *codec.Serde, data []byte) (codec.Named, error) {
	return retryTransient(ctx, func() (v codec.Named, err error) {
		defer func() {
			if r := recover(); r != nil {
				v, err = nil, &codec.DecodeError{Kind: "panic", Err: fmt.Errorf("decoder panicked: %v", r)}
			}
		}()
		return serde.Decode(data)
	})
}

// encodeRetrying encodes, retrying while the registry is unreachable (the schema id is looked up
// once per type).
func encodeRetrying(ctx context.Context, serde *codec.Serde, ev schemas.Event) ([]byte, error) {
	return retryTransient(ctx, func() ([]byte, error) { return serde.Encode(ev) })
}

// retryTransient calls f until it succeeds or fails for a reason that is not transient, with
// exponential backoff (100 ms to 5 s) for at most two minutes; then it returns f's last error.
func retryTransient[T any](ctx context.Context, f func() (T, error)) (T, error) {
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := f()
		if err == nil || !codec.IsTransient(err) || time.Now().After(deadline) {
			return v, err
		}
		slog.Warn("schema registry unavailable; retrying", "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// idNamespace derives deterministic event ids: an event emitted again for the same cause (after a
// crash, on reprocessing) has the same id, so consumers deduplicate it.
var idNamespace = uuid.MustParse("6f1d6a52-8f0e-4f43-9a4c-0c7f4f4a7b1e")

// Meta returns the metadata of an event of eventType caused by cause: a deterministic event id
// (from the cause's id, the type and discriminator), correlation id carried over, causation id
// = the cause's event id, occurred_at = at.
func Meta(eventType string, cause schemas.Metadata, orderID string, at time.Time, discriminator string) schemas.Metadata {
	causeID := cause.EventID
	var oid *string
	if orderID != "" {
		oid = &orderID
	}
	corr := cause.CorrelationID
	if corr == "" {
		corr = orderID
	}
	return schemas.Metadata{
		EventID:       derivedID(causeID, eventType, discriminator),
		EventType:     eventType,
		OccurredAt:    at.UTC().Truncate(time.Millisecond),
		OrderID:       oid,
		CorrelationID: corr,
		CausationID:   &causeID,
	}
}

// derivedID is uuid.NewSHA1(idNamespace, cause/eventType/discriminator) without the hash's and
// the name's heap allocations (it runs for every emit).
func derivedID(cause, eventType, discriminator string) string {
	var stack [160]byte
	name := append(append(append(append(append(stack[:0], idNamespace[:]...), cause...), '/'), eventType...), '/')
	sum := sha1.Sum(append(name, discriminator...))
	var id uuid.UUID
	copy(id[:], sum[:])
	id[6] = (id[6] & 0x0f) | 0x50 // version 5
	id[8] = (id[8] & 0x3f) | 0x80 // RFC 4122 variant
	return id.String()
}

// Run runs a processor until ctx ends and returns its error (nil on a clean stop).
func Run(ctx context.Context, p *goka.Processor) error {
	err := p.Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Bytes is the codec of every event stream: payloads are decoded inside the callback, where a bad
// one is poison instead of a codec error that would stop the processor.
func Bytes() goka.Codec { return new(gokacodec.Bytes) }

// NewEmitter returns a goka emitter for topic that places keys as Kafka's Java producer does.
func NewEmitter(brokers []string, topic goka.Stream) (*goka.Emitter, error) {
	return goka.NewEmitter(brokers, topic, Bytes(),
		goka.WithEmitterHasher(Hasher()),
		goka.WithEmitterProducerBuilder(goka.ProducerBuilderWithConfig(kafka.NewProducerConfig("emitter-"+string(topic)))))
}
