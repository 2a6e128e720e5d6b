//go:build integration

package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

// An order whose payment step is withheld (the payments group is not running) is cancelled as
// TIMEOUT at its deadline and its held stock goes back. The deadline falls due while every
// process is stopped and fires after the restart (the timer lives in the deadlines table, not in
// a process). When payments comes back, its late decision leaves no charge (an authorization is
// refunded) and the order stays CANCELLED with reason TIMEOUT, never shipped.
func TestIntegrationStuckOrderTimesOutAndIsCompensated(t *testing.T) {
	const deadline = 6 * time.Second
	t.Setenv("ORDERFLOW_ORDER_DEADLINE", deadline.String())
	p := deploy(t)
	var withoutPayments []string
	for _, name := range topology.Processors() {
		if name != topology.GroupPayments {
			withoutPayments = append(withoutPayments, name)
		}
	}
	first := p.start(runner.Config{Processors: withoutPayments, API: true})
	if code := p.call("PUT", "/inventory/S", map[string]int64{"available": 3}, nil); code != 202 {
		t.Fatalf("set stock: %d", code)
	}
	waitStock(t, p, "S", 3, 0)
	var created orderResp
	if code := p.call("POST", "/orders", orderReq{"c-stuck", "EUR", []item{{"S", 2, 100}}}, &created); code != 201 {
		t.Fatalf("place order: %d", code)
	}
	placed := time.Now()
	waitStock(t, p, "S", 1, 2) // held, waiting for a payment that does not come

	p.stop(first) // nothing runs when the deadline falls due
	time.Sleep(time.Until(placed.Add(deadline + time.Second)))
	p.start(runner.Config{Processors: withoutPayments, API: true})

	var final orderResp
	p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
	if final.Status != "CANCELLED" || final.Reason == nil || *final.Reason != "TIMEOUT" {
		t.Fatalf("stuck order after its deadline: %+v, want CANCELLED with reason TIMEOUT", final)
	}
	waitStock(t, p, "S", 3, 0) // the holds released

	// payments comes back and decides on the late order: no charge may remain
	p.start(runner.Config{Processors: []string{topology.GroupPayments}})
	ctx := itest.Context(t, 2*time.Minute)
	payments := string(p.topo.Group(topology.GroupPayments))
	if err := itest.WaitNoLag(ctx, p.cfg, map[string][]string{payments: catalog.Inputs(p.topo)[payments]}); err != nil {
		t.Fatalf("payments never caught up: %v", err)
	}
	charged := 0
	scan, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = itest.ConsumeUntil(scan, p.cfg, string(p.topo.PaymentEvents()), func(m *sarama.ConsumerMessage) bool {
		if string(m.Key) == created.OrderID {
			switch itest.Header(m, "eventType") {
			case "PaymentAuthorized":
				charged++
			case "PaymentRefunded":
				charged--
			}
		}
		return false // read everything there is
	})
	if charged != 0 {
		t.Errorf("the timed-out order is left charged (%d authorizations more than refunds)", charged)
	}
	p.call("GET", "/orders/"+created.OrderID, nil, &final)
	if final.Status != "CANCELLED" || final.Reason == nil || *final.Reason != "TIMEOUT" {
		t.Errorf("after the late payment decision: %+v, want CANCELLED with reason TIMEOUT", final)
	}
	waitStock(t, p, "S", 3, 0)
}
