//go:build integration

package runner_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pipelines/itest"
	"github.com/orderflow/orderflow/pipelines/reprocess"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/pipelines/topology"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Reprocessing history into a new consumer group rebuilds a table identical to the live one, and
// the API can be pointed at the new version.
func TestIntegrationReprocessRebuildsIdenticalTable(t *testing.T) {
	p := startPipeline(t)
	p.call("PUT", "/inventory/A", map[string]int64{"available": 40}, nil)
	waitStock(t, p, "A", 40, 0) // orders placed before the ledger has the stock would be refused
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ { // 40 ship, 20 out of stock, some declined
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cust := fmt.Sprintf("c-%d", i)
			if i%10 == 0 {
				cust = "deny-" + cust
			}
			var created, final orderResp
			p.call("POST", "/orders", orderReq{cust, "EUR", []item{{"A", 1, 100}}}, &created)
			p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
		}(i)
	}
	wg.Wait()
	if err := itest.WaitNoLag(itest.Context(t, 2*time.Minute), p.cfg, runner.Inputs(p.topo)); err != nil {
		t.Fatal(err)
	}

	ctx := itest.Context(t, 3*time.Minute)
	stats, err := reprocess.Run(ctx, p.cfg, p.topo, topology.GroupOrderStatus, "v2", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events == 0 || stats.Table != string(p.topo.Prefix)+".order-status.v2-table" {
		t.Fatalf("stats %+v", stats)
	}
	t.Logf("reprocessed %d events in %s (%.0f events/s)", stats.Events, stats.Elapsed, stats.PerSecond)
	serde, err := codec.New(codec.NewSRClient(p.cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	diff, err := reprocess.CompareTables(ctx, p.cfg.Brokers, serde, string(p.topo.Table(topology.GroupOrderStatus)), stats.Table)
	if err != nil {
		t.Fatal(err)
	}
	if diff.Keys != 60 || !diff.Equal() {
		t.Fatalf("compare: %d keys, differing %v, only live %v, only new %v", diff.Keys, diff.Differing, diff.OnlyInLeft, diff.OnlyInRight)
	}

	// Blue/green: an API instance on the v2 table answers like the live one.
	var live struct {
		Orders []orderResp `json:"orders"`
	}
	p.call("GET", "/orders?limit=5", nil, &live)
	if len(live.Orders) == 0 {
		t.Fatal("live API lists no orders")
	}
	green := topology.Topology{GroupSuffix: "v2"}
	p.start(runner.Config{API: true, Topology: green}) // p.base now points at the v2 instance
	for _, o := range live.Orders {
		var got orderResp
		p.call("GET", "/orders/"+o.OrderID, nil, &got)
		if got.Status != o.Status || got.Version != o.Version {
			t.Errorf("order %s: v2 API says %s v%d, live %s v%d", o.OrderID, got.Status, got.Version, o.Status, o.Version)
		}
	}

	// The v2 processor goes on from where the rebuild committed: a new order reaches both tables.
	p.start(runner.Config{Processors: []string{topology.GroupOrderStatus}, Topology: green})
	var created, final orderResp
	p.call("POST", "/orders", orderReq{"c-late", "EUR", []item{{"A", 1, 100}}}, &created)
	p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
	if err := itest.WaitNoLag(itest.Context(t, 2*time.Minute), p.cfg, runner.Inputs(p.topo)); err != nil {
		t.Fatal(err)
	}
	if err := itest.Eventually(ctx, func() error {
		diff, err := reprocess.CompareTables(ctx, p.cfg.Brokers, serde, string(p.topo.Table(topology.GroupOrderStatus)), stats.Table)
		if err != nil {
			return err
		}
		if diff.Keys != 61 || !diff.Equal() {
			return fmt.Errorf("%d keys, differing %v, only live %v, only new %v", diff.Keys, diff.Differing, diff.OnlyInLeft, diff.OnlyInRight)
		}
		return nil
	}); err != nil {
		t.Fatalf("after a new order: %v", err)
	}
}
