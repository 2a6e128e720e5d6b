//go:build integration

package runner_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/reprocess"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/returns"
)

// endOffsets returns the end offset of every partition of the deployment's live topics (streams,
// dead-letter topics, group tables): any write to a live topic moves one.
func endOffsets(t *testing.T, p *pipeline) map[string]int64 {
	t.Helper()
	client, err := sarama.NewClient(p.cfg.Brokers, kafka.NewSaramaConfig("test-offsets"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	out := map[string]int64{}
	for _, tp := range p.topo.Topics() {
		for part := int32(0); part < tp.Partitions; part++ {
			end, err := client.GetOffset(tp.Name, part, sarama.OffsetNewest)
			if err != nil {
				t.Fatalf("end of %s/%d: %v", tp.Name, part, err)
			}
			out[fmt.Sprintf("%s/%d", tp.Name, part)] = end
		}
	}
	return out
}

type stockResp struct{ Available, Reserved int64 }

// liveState is what users see: every order's status and version, and the stock of the SKUs.
func liveState(p *pipeline, ids []string, skus ...string) map[string]string {
	out := map[string]string{}
	for _, id := range ids {
		var o orderResp
		p.call("GET", "/orders/"+id, nil, &o)
		out[id] = fmt.Sprintf("%s v%d", o.Status, o.Version)
	}
	for _, sku := range skus {
		var st stockResp
		p.call("GET", "/inventory/"+sku, nil, &st)
		out[sku] = fmt.Sprintf("available %d reserved %d", st.Available, st.Reserved)
	}
	return out
}

// Reprocessing any of the six processors into a new table version rebuilds a table equal to
// the live one without writing a single record to a live topic or table (no phantom holds, no
// re-sent commands or events); a version is then switched to (instances started afterwards run
// and serve it, and go on from where it is) and the old one dropped with its group and topics.
func TestIntegrationReprocessEveryProcessorLeavesLiveStateAlone(t *testing.T) {
	p := startPipeline(t)
	p.call("PUT", "/inventory/A", map[string]int64{"available": 40}, nil)
	p.call("PUT", "/inventory/B", map[string]int64{"available": 3}, nil)
	waitStock(t, p, "A", 40, 0)
	waitStock(t, p, "B", 3, 0)
	ids, shipped := make([]string, 60), make([]bool, 60)
	var wg sync.WaitGroup
	for i := range ids { // most ship; every 10th is declined; B runs out of stock
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cust := fmt.Sprintf("c-%d", i)
			if i%10 == 0 {
				cust = "deny-" + cust
			}
			items := []item{{"A", 1, 100}}
			if i%6 == 0 {
				items = append(items, item{"B", 1, 250})
			}
			var created, final orderResp
			p.call("POST", "/orders", orderReq{cust, "EUR", items}, &created)
			p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
			ids[i], shipped[i] = created.OrderID, final.Status == "SHIPPED"
		}(i)
	}
	wg.Wait()
	// returns of three shipped orders, for the orchestrator's table: one completed, one rejected,
	// one waiting for its parcel
	var returned []string
	for i, id := range ids {
		if shipped[i] && len(returned) < 3 {
			code, resp := p.requestReturn(id, "reprocess", returnReq{Lines: []returnLine{{"A", 1}}})
			if code != 202 {
				t.Fatalf("return of %s: %d %+v", id, code, resp)
			}
			returned = append(returned, resp.ReturnID)
		}
	}
	for i, condition := range []string{"ok", "damaged"} {
		p.waitLabel(returned[i])
		if code := p.call("POST", "/returns/"+returned[i]+"/received", map[string]string{"condition": condition}, nil); code != 202 {
			t.Fatalf("receive %s: %d", returned[i], code)
		}
	}
	p.waitReturn(returned[0], returns.Completed, time.Minute)
	p.waitReturn(returned[1], returns.Rejected, time.Minute)
	p.waitLabel(returned[2])
	if err := itest.WaitNoLag(itest.Context(t, 2*time.Minute), p.cfg, catalog.Inputs(p.topo)); err != nil {
		t.Fatal(err)
	}
	before := liveState(p, ids, "A", "B")
	offsets := endOffsets(t, p)

	ctx := itest.Context(t, 10*time.Minute)
	for _, proc := range topology.Processors() {
		stats, err := reprocess.Run(ctx, p.cfg, p.topo, proc, "x", t.TempDir(), nil)
		if err != nil {
			t.Fatalf("reprocess %s: %v", proc, err)
		}
		diff, err := reprocess.Compare(ctx, p.cfg, p.topo, proc, "x")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d events in %s; %d keys compared", proc, stats.Events, stats.Elapsed.Round(time.Millisecond), diff.Keys)
		if diff.Keys == 0 || !diff.Equal() {
			t.Errorf("%s: rebuilt table differs from the live one: %d keys, differing %v, only live %v, only rebuilt %v; e.g. live %+v, rebuilt %+v",
				proc, diff.Keys, diff.Differing, diff.OnlyInLeft, diff.OnlyInRight, diff.Example[0], diff.Example[1])
		}
	}
	if after := endOffsets(t, p); !maps.Equal(after, offsets) {
		for k, v := range after {
			if offsets[k] != v {
				t.Errorf("live topic %s written while reprocessing: end offset %d → %d", k, offsets[k], v)
			}
		}
	}
	if after := liveState(p, ids, "A", "B"); !maps.Equal(after, before) {
		t.Errorf("live state changed by reprocessing:\nbefore %v\nafter  %v", before, after)
	}

	// Blue/green: reservations and order-status switch to x; the next instance runs and serves
	// x, goes on from where x is, and the live flow still works.
	for _, proc := range []string{topology.GroupReservations, topology.GroupOrderStatus} {
		if err := reprocess.Switch(ctx, p.cfg, p.topo, proc, "x"); err != nil {
			t.Fatalf("switch %s: %v", proc, err)
		}
	}
	p.stopAll()
	p.start(runner.Config{Processors: topology.Processors(), API: true})
	live := p.topo
	if live.Versions, _ = topology.LoadVersions(ctx, p.cfg.Brokers, p.topo); live.Version(topology.GroupOrderStatus) != "x" {
		t.Fatalf("serving versions %v", live.Versions)
	}
	for _, id := range ids[:5] {
		var o orderResp
		p.call("GET", "/orders/"+id, nil, &o)
		if want := before[id]; fmt.Sprintf("%s v%d", o.Status, o.Version) != want {
			t.Errorf("order %s on the x table: %s v%d, was %s", id, o.Status, o.Version, want)
		}
	}
	var created, final orderResp
	// a SKU of its own: A may be sold out by the orders above (how many of them win A depends on
	// the race between their holds and B's rejections)
	p.call("PUT", "/inventory/L", map[string]int64{"available": 5}, nil)
	waitStock(t, p, "L", 5, 0)
	p.call("POST", "/orders", orderReq{"c-late", "EUR", []item{{"L", 2, 100}}}, &created)
	p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
	if final.Status != "SHIPPED" {
		reason := ""
		if final.Reason != nil {
			reason = *final.Reason
		}
		t.Fatalf("order after the switch: %+v (reason %s); stock before %s", final, reason, before["A"])
	}
	waitStock(t, p, "L", 3, 0)
	// the old order-status version no longer runs: the new order is only in the x table
	diff, err := reprocess.Compare(ctx, p.cfg, live, topology.GroupOrderStatus, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(diff.OnlyInLeft, []string{created.OrderID}) {
		t.Errorf("serving x vs the old version: only in x %v, want the new order %s", diff.OnlyInLeft, created.OrderID)
	}

	// Drop: never the serving version; the old one and a shadow go with their groups and topics.
	if _, err := reprocess.Drop(ctx, p.cfg, live, topology.GroupOrderStatus, "x", ""); err == nil {
		t.Error("dropping the serving version succeeded")
	}
	for _, proc := range []string{topology.GroupOrderStatus, topology.GroupReservations} {
		d, err := reprocess.Drop(ctx, p.cfg, live, proc, "", "")
		if err != nil {
			t.Fatalf("drop the old %s: %v", proc, err)
		}
		if !slices.Equal(d.Topics, []string{string(p.topo.Table(proc))}) {
			t.Errorf("dropping the old %s deleted %v", proc, d.Topics)
		}
	}
	for _, proc := range []string{topology.GroupPayments, topology.GroupInventory, topology.GroupShipping} {
		if _, err := reprocess.Drop(ctx, p.cfg, live, proc, "x", ""); err != nil {
			t.Fatalf("drop %s x: %v", proc, err)
		}
	}
	admin, err := kafka.NewAdmin(p.cfg.Brokers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	topics, _ := admin.ListTopics()
	for name := range topics {
		if strings.HasPrefix(name, p.topo.Prefix+".") && (strings.Contains(name, ".payments.x") || strings.Contains(name, ".inventory.x") ||
			strings.Contains(name, ".shipping.x") || name == string(p.topo.Table(topology.GroupOrderStatus))) {
			t.Errorf("topic %s left after drop", name)
		}
	}
	groups, _ := admin.ListConsumerGroups()
	for _, g := range []string{string(p.topo.Group(topology.GroupOrderStatus)), p.topo.Prefix + ".payments.x"} {
		if _, ok := groups[g]; ok {
			t.Errorf("group %s left after drop", g)
		}
	}
	// the x versions and private topics the test made
	t.Cleanup(func() {
		p.stopAll()
		topics, _ := admin.ListTopics()
		for name := range topics {
			if strings.HasPrefix(name, p.topo.Prefix+".") {
				_ = admin.DeleteTopic(name)
			}
		}
	})
}
