// Package proctest helps unit-test orderflow's processors: it builds events with valid metadata,
// encodes them as the real wire format (in-memory registry), and runs a processor in goka's
// tester so tests can feed inputs and read outputs and tables.
package proctest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// At is the fixed time of test events.
var At = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Topology used by processor unit tests.
var Topology = topology.Default()

// Serde returns an in-memory Serde holding every shipped schema.
func Serde(t testing.TB) *codec.Serde {
	t.Helper()
	s, err := codec.NewInMemory()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Meta returns metadata with a fresh event id for an order.
func Meta(eventType, orderID string) schemas.Metadata {
	var oid *string
	if orderID != "" {
		oid = &orderID
	}
	return schemas.Metadata{EventID: uuid.NewString(), EventType: eventType, OccurredAt: At, OrderID: oid, CorrelationID: orderID}
}

// Order returns a valid OrderPlaced with one line per (sku, quantity) pair, 1000 minor units each.
func Order(orderID, customerID string, skuQty ...any) schemas.OrderPlaced {
	o := schemas.OrderPlaced{Meta: Meta("OrderPlaced", orderID), OrderID: orderID, CustomerID: customerID,
		Currency: "EUR", PlacedAt: At, Channel: schemas.ChannelAPI}
	for i := 0; i+1 < len(skuQty); i += 2 {
		q := int32(skuQty[i+1].(int))
		o.Lines = append(o.Lines, schemas.OrderLine{SKU: skuQty[i].(string), Quantity: q, UnitPriceMinor: 1000})
		o.TotalMinor += int64(q) * 1000
	}
	return o
}

// Harness runs one processor in goka's tester.
type Harness struct {
	T     testing.TB
	TT    *tester.Tester
	Serde *codec.Serde
	Proc  *goka.Processor
}

// New starts the group in goka's tester.
func New(t testing.TB, serde *codec.Serde, group *goka.GroupGraph) *Harness {
	t.Helper()
	tt := tester.New(t)
	p, err := goka.NewProcessor(nil, group, goka.WithTester(tt), goka.WithHasher(streams.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("processor stopped with an error: %v", err)
		}
	})
	return &Harness{T: t, TT: tt, Serde: serde, Proc: p}
}

// Feed encodes ev and consumes it on topic under key, with the event id and type headers every
// producer (Debezium's outbox router, the processors) sets.
func (h *Harness) Feed(topic goka.Stream, key string, ev schemas.Event) {
	h.T.Helper()
	data, err := h.Serde.Encode(ev)
	if err != nil {
		h.T.Fatal(err)
	}
	h.TT.Consume(string(topic), key, data, tester.WithHeaders(goka.Headers{
		streams.HeaderEventID: []byte(ev.Metadata().EventID), streams.HeaderEventType: []byte(ev.Metadata().EventType)}))
}

// FeedRaw consumes raw bytes on topic with the given headers (for poison tests).
func (h *Harness) FeedRaw(topic goka.Stream, key string, data []byte, headers ...goka.Headers) {
	var opts []tester.EmitOption
	for _, hdr := range headers {
		opts = append(opts, tester.WithHeaders(hdr))
	}
	h.TT.Consume(string(topic), key, data, opts...)
}

// Tracker reads what the processor emitted to a topic.
type Tracker struct {
	h  *Harness
	qt *tester.QueueTracker
}

// Track starts tracking a topic from its current end.
func (h *Harness) Track(topic goka.Stream) *Tracker {
	return &Tracker{h: h, qt: h.TT.NewQueueTracker(string(topic))}
}

// Emitted is one decoded emitted message.
type Emitted struct {
	Key     string
	Event   codec.Named
	Headers goka.Headers
}

// All drains the tracker and decodes every message.
func (tr *Tracker) All() []Emitted {
	tr.h.T.Helper()
	var out []Emitted
	for {
		hdr, key, raw, ok := tr.qt.NextRawWithHeaders()
		if !ok {
			return out
		}
		ev, err := tr.h.Serde.Decode(raw)
		if err != nil {
			tr.h.T.Fatalf("emitted message does not decode: %v", err)
		}
		out = append(out, Emitted{Key: key, Event: ev, Headers: hdr})
	}
}

// Types lists the Avro short names of emitted events, in order.
func Types(es []Emitted) []string {
	out := make([]string, len(es))
	for i, e := range es {
		full := e.Event.AvroName()
		out[i] = full[len(schemas.Namespace)+1:]
	}
	return out
}

// Raw is one emitted message, undecoded.
type Raw struct {
	Key     string
	Value   []byte
	Headers goka.Headers
}

// Raw drains the tracker without decoding (for dead-letter topics).
func (tr *Tracker) Raw() []Raw {
	var out []Raw
	for {
		hdr, key, raw, ok := tr.qt.NextRawWithHeaders()
		if !ok {
			return out
		}
		out = append(out, Raw{Key: key, Value: raw, Headers: hdr})
	}
}

// TimedOut is shipping's OrderTimedOut for an order placed at At with a 15-minute deadline
// (the event is dated at the deadline).
func TimedOut(orderID string) schemas.OrderTimedOut {
	deadline := At.Add(15 * time.Minute)
	meta := Meta("OrderTimedOut", orderID)
	meta.OccurredAt = deadline
	return schemas.OrderTimedOut{Meta: meta, OrderID: orderID, PlacedAt: At, Deadline: deadline}
}
