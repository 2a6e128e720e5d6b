package streams

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/schemas/codec"
)

// Env is what every processor's callback needs besides its decision: the codec, the poison
// policy and (optionally) metrics.
type Env struct {
	Serde   *codec.Serde
	Poison  Poison   // nil: log and skip
	Metrics *Metrics // nil: no metrics
	// Tracer continues the trace of each input message with a span of the processor's and puts
	// the new traceparent on every emitted event. nil: the input's traceparent is copied as is.
	Tracer trace.Tracer
	// Contracts maps an input topic to the event types it may carry (topology.Contracts): a
	// record of another type is dead-lettered with kind wrong_schema_for_topic, and an eventType
	// header naming another type does not let the input be passed over undecoded. nil: no check.
	Contracts map[string][]string
}

// Metrics counts what processors do. Register it once per process.
type Metrics struct {
	Processed    *prometheus.CounterVec // processor, topic
	Emitted      *prometheus.CounterVec // processor, topic
	DeadLettered *prometheus.CounterVec // processor, topic, kind
	DecodeErrors *prometheus.CounterVec // processor, kind
	Duplicates   *prometheus.CounterVec // processor
}

// NewMetrics creates the counters and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_messages_processed_total",
			Help: "Input messages handled by a processor (including poison and ignored ones)."}, []string{"processor", "topic"}),
		Emitted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_events_emitted_total",
			Help: "Events emitted by a processor."}, []string{"processor", "topic"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_messages_dead_lettered_total",
			Help: "Poison messages sent to a dead-letter topic."}, []string{"processor", "topic", "kind"}),
		DecodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_decode_errors_total",
			Help: "Input payloads that did not decode, by error kind."}, []string{"processor", "kind"}),
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_duplicate_events_total",
			Help: "Redelivered events a processor had already applied and ignored."}, []string{"processor"}),
	}
	reg.MustRegister(m.Processed, m.Emitted, m.DeadLettered, m.DecodeErrors, m.Duplicates)
	return m
}
