// Package tracing carries W3C trace context across orderflow's asynchronous boundaries with the
// OpenTelemetry SDK.
//
// A trace started (or continued from a traceparent header) at POST /orders is written to the
// outbox's tracingspancontext column; Debezium's router puts it in the record's traceparent
// header; every processor continues it with a span of its own and writes the new traceparent on
// every event it emits, up to OrderStatusChanged. Spans are exported over OTLP/HTTP only when
// OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set; otherwise they are created, carried
// and dropped.
package tracing

import (
	"context"
	"fmt"
	"os"

	"github.com/lovoo/goka"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is W3C Trace Context.
var propagator = propagation.TraceContext{}

// NewProvider returns a tracer provider exporting over OTLP/HTTP when the standard OTEL
// environment variables name an endpoint, and exporting nothing otherwise.
func NewProvider(ctx context.Context) (*sdktrace.TracerProvider, error) {
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample()))}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// Traceparent returns the W3C traceparent of the span in ctx ("" when there is none).
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// FromTraceparent returns ctx carrying the remote span context of a traceparent value.
func FromTraceparent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// FromHeaders returns ctx carrying the remote span context of a message's traceparent header.
func FromHeaders(ctx context.Context, h goka.Headers) context.Context {
	return FromTraceparent(ctx, string(h["traceparent"]))
}

// TraceID returns the trace id of a traceparent value ("" when malformed).
func TraceID(traceparent string) string {
	sc := trace.SpanContextFromContext(FromTraceparent(context.Background(), traceparent))
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
