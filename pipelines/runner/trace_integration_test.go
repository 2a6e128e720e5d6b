//go:build integration

package runner_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/internal/tracing"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// The trace started by a caller of POST /orders reaches the order's status-change events: API →
// outbox column → Debezium header → each processor's span → every event it emits.
func TestIntegrationTraceFollowsTheOrder(t *testing.T) {
	p := startPipeline(t)
	p.call("PUT", "/inventory/A", map[string]int64{"available": 10}, nil)
	waitStock(t, p, "A", 10, 0) // orders placed before the ledger has the stock would be refused
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const incoming = "00-" + traceID + "-00f067aa0ba902b7-01"

	body, _ := json.Marshal(orderReq{"c-trace", "EUR", []item{{"A", 1, 100}}})
	req, _ := http.NewRequest("POST", p.base+"/orders", bytes.NewReader(body))
	req.Header.Set("traceparent", incoming)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created orderResp
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	var final orderResp
	p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
	if final.Status != "SHIPPED" {
		t.Fatalf("order %s: %s", created.OrderID, final.Status)
	}

	serde, err := codec.New(codec.NewSRClient(p.cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	// check reads the order's events on topic until last says it was the final one.
	check := func(topic string, last func(codec.Named) bool) {
		var seen []string
		err := itest.ConsumeUntil(itest.Context(t, 30*time.Second), p.cfg, topic, func(m *sarama.ConsumerMessage) bool {
			if string(m.Key) != created.OrderID {
				return false
			}
			seen = append(seen, itest.Header(m, "traceparent"))
			ev, err := serde.Decode(m.Value)
			return err == nil && last(ev)
		})
		if err != nil {
			t.Fatalf("%s: %d events of the order, not the last one: %v", topic, len(seen), err)
		}
		for _, tp := range seen {
			if tracing.TraceID(tp) != traceID {
				t.Errorf("%s: traceparent %q does not continue trace %s", topic, tp, traceID)
			}
			if tp == incoming {
				t.Errorf("%s: traceparent is the caller's own span: no span of ours in between", topic)
			}
		}
	}
	everyEvent := func(codec.Named) bool { return true }
	check(string(p.topo.OrderEvents()), everyEvent)                   // Debezium carried the outbox column
	check(string(p.topo.PaymentEvents()), everyEvent)                 // payments continued it
	check(string(p.topo.StatusChanges()), func(ev codec.Named) bool { // every change up to SHIPPED
		c, ok := ev.(schemas.OrderStatusChanged)
		return ok && c.ToStatus == schemas.StatusShipped
	})
}
