//go:build integration

package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
	"github.com/orderflow/orderflow/schemas/gate"
)

// pipeline is a private deployment of the whole pipeline on the real stack: its own outbox
// schema, connector, topics and groups, and orderflow processes running processors and the API.
type pipeline struct {
	t      *testing.T
	cfg    endpoints.Endpoints
	base   string
	topo   topology.Topology
	schema string
	state  string
	apps   []*running
	token  string // bearer token call sends, when set
}

type running struct {
	cancel context.CancelFunc
	done   chan error
}

// deploy prepares a private deployment (topics, schemas, tables, connector) and starts nothing.
// Connector options override the defaults (its replication slot is dropped when it stops).
func deploy(t *testing.T, opts ...connectors.OutboxOption) *pipeline {
	cfg := itest.Stack(t)
	pg := itest.PG(t, cfg)
	ctx := itest.Context(t, 10*time.Minute)
	suffix := itest.Suffix()
	topo, err := topology.New("e2e" + suffix)
	if err != nil {
		t.Fatal(err)
	}
	schema := "e2e_" + suffix
	if err := topo.Apply(cfg.Brokers); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if keepFailed(t, "topics "+topo.Prefix+".*") {
			return
		}
		admin, err := kafka.NewAdmin(cfg.Brokers)
		if err == nil {
			for _, tp := range topo.Topics() {
				_ = admin.DeleteTopic(tp.Name)
			}
			admin.Close()
		}
	})
	all, _ := schemas.All()
	if _, err := gate.New(cfg.RegistryURL).Apply(ctx, all); err != nil {
		t.Fatalf("schemas apply: %v", err)
	}
	pool, err := pgxpool.New(ctx, cfg.PGDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	serde, err := codec.New(codec.NewSRClient(cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.NewStore(pool, serde, schema).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if keepFailed(t, "schema "+schema) {
			return
		}
		live, done := itest.Live(context.Background(), pg, cfg.PGDSN) // the chaos run restarts PostgreSQL
		defer done()
		live.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
	})
	itest.OutboxConnector(t, cfg, pg, schema, append([]connectors.OutboxOption{connectors.WithTopicPrefix(topo.Prefix),
		connectors.WithSetting("slot.drop.on.stop", "true")}, opts...)...)
	p := &pipeline{t: t, cfg: cfg, topo: topo, schema: schema, state: t.TempDir()}
	t.Cleanup(p.stopAll)
	return p
}

// keepFailed reports whether a failed test's deployment is kept for a post-mortem
// (ORDERFLOW_TEST_KEEP_FAILED=1), and logs what is kept.
func keepFailed(t *testing.T, what string) bool {
	if !t.Failed() || os.Getenv("ORDERFLOW_TEST_KEEP_FAILED") != "1" {
		return false
	}
	t.Logf("kept for a post-mortem: %s", what)
	return true
}

// startPipeline deploys and runs every processor and the API in one process.
func startPipeline(t *testing.T) *pipeline {
	p := deploy(t)
	p.start(runner.Config{Processors: topology.Processors(), API: true})
	return p
}

// start runs one orderflow process; with the API, it waits until /readyz answers 200 and
// points p.base at it.
func (p *pipeline) start(rc runner.Config) *running {
	t := p.t
	versions := rc.Topology.Versions // a test may ask for table versions (nil: the serving ones)
	rc.Endpoints, rc.Topology, rc.Schema = p.cfg, p.topo, p.schema
	rc.Topology.Versions = versions
	if rc.StateDir == "" {
		rc.StateDir = filepath.Join(p.state, fmt.Sprint(len(p.apps)))
	}
	if rc.API {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rc.Listener = ln
		p.base = "http://" + ln.Addr().String()
	}
	ctx := itest.Context(t, 2*time.Minute)
	app, err := runner.New(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- app.Run(runCtx) }()
	p.apps = append(p.apps, r)
	if rc.API {
		if err := itest.Eventually(ctx, func() error {
			resp, err := http.Get(p.base + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("readyz %d", resp.StatusCode)
			}
			return nil
		}); err != nil {
			t.Fatalf("pipeline never ready: %v", err)
		}
	}
	return r
}

// stop ends one process and reports an error it stopped with.
func (p *pipeline) stop(r *running) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			p.t.Errorf("orderflow process stopped with an error: %v", err)
		}
	case <-time.After(30 * time.Second):
		p.t.Error("orderflow process did not stop within 30s")
	}
}

func (p *pipeline) stopAll() {
	for _, r := range p.apps {
		p.stop(r)
	}
}

func (p *pipeline) call(method, path string, body any, out any) int {
	p.t.Helper()
	var rd bytes.Buffer
	if body != nil {
		json.NewEncoder(&rd).Encode(body)
	}
	req, _ := http.NewRequest(method, p.base+path, &rd)
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Errorf("%s %s: %v", method, path, err) // not Fatal: workers call this from goroutines
		return -1
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

type item struct {
	SKU            string `json:"sku"`
	Quantity       int    `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_cents"`
}

type orderReq struct {
	CustomerID string `json:"customer_id"`
	Currency   string `json:"currency"`
	Items      []item `json:"items"`
}

type orderResp struct {
	OrderID  string  `json:"order_id"`
	Status   string  `json:"status"`
	Reason   *string `json:"reason"`
	Version  int64   `json:"version"`
	TimedOut bool    `json:"timed_out"`
	History  []struct {
		Status string `json:"status"`
	} `json:"history"`
}

type planned struct {
	req    orderReq
	want   string // SHIPPED, or CANCELLED:<reason>; "" when contended (SHIPPED or OUT_OF_STOCK)
	id     string
	result orderResp
}

// 500 orders covering success, declined payment, out of stock and contention on a scarce SKU
// all reach the expected terminal status through PostgreSQL → Debezium → Kafka → processors;
// no SKU is oversold, stock is conserved, and a redelivered event changes nothing.
func TestIntegrationOrderPipelineEndToEnd(t *testing.T) {
	p := startPipeline(t)
	stock := map[string]int64{"A": 10000, "B": 10000, "SCARCE": 30}
	for sku, n := range stock {
		if code := p.call("PUT", "/inventory/"+sku, map[string]int64{"available": n}, nil); code != 202 {
			t.Fatalf("PUT /inventory/%s: %d", sku, code)
		}
	}
	// Stock must be in the ledger before orders race for it.
	ctx := itest.Context(t, 8*time.Minute)
	for sku, n := range stock {
		err := itest.Eventually(ctx, func() error {
			var st struct{ Available int64 }
			p.call("GET", "/inventory/"+sku, nil, &st)
			if st.Available != n {
				return fmt.Errorf("%s available %d, want %d", sku, st.Available, n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	var plan []*planned
	add := func(n int, want string, mk func(i int) orderReq) {
		for i := 0; i < n; i++ {
			plan = append(plan, &planned{req: mk(len(plan)), want: want})
		}
	}
	add(300, "SHIPPED", func(i int) orderReq {
		return orderReq{fmt.Sprintf("c-%d", i), "EUR", []item{{"A", 1 + i%3, 1299}, {"B", 1, 500}}}
	})
	add(50, "CANCELLED:PAYMENT_DECLINED", func(i int) orderReq { return orderReq{fmt.Sprintf("deny-%d", i), "EUR", []item{{"A", 1, 100}}} })
	add(30, "CANCELLED:PAYMENT_DECLINED", func(i int) orderReq { return orderReq{fmt.Sprintf("c-%d", i), "EUR", []item{{"B", 1, 600000}}} })
	add(60, "", func(i int) orderReq { return orderReq{fmt.Sprintf("c-%d", i), "EUR", []item{{"SCARCE", 1, 100}}} })
	add(30, "CANCELLED:OUT_OF_STOCK", func(i int) orderReq { return orderReq{fmt.Sprintf("c-%d", i), "EUR", []item{{"NONE", 1, 100}}} })
	add(30, "CANCELLED:OUT_OF_STOCK", func(i int) orderReq {
		return orderReq{fmt.Sprintf("c-%d", i), "EUR", []item{{"A", 2, 100}, {"NONE", 1, 100}}}
	})
	if len(plan) != 500 {
		t.Fatalf("plan has %d orders", len(plan))
	}

	var wg sync.WaitGroup
	work := make(chan *planned)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				var created orderResp
				if code := p.call("POST", "/orders", o.req, &created); code != 201 {
					t.Errorf("POST /orders: %d", code)
					continue
				}
				o.id = created.OrderID
				p.call("GET", "/orders/"+o.id+"?wait_for=terminal&timeout=60s", nil, &o.result)
			}
		}()
	}
	for _, o := range plan {
		work <- o
	}
	close(work)
	wg.Wait()

	shipped := map[string]int64{}
	scarceShipped := 0
	for _, o := range plan {
		got := o.result.Status
		if o.result.Reason != nil {
			got += ":" + *o.result.Reason
		}
		if o.result.TimedOut {
			t.Errorf("order %s (%v) still %s after 60s", o.id, o.req, got)
			continue
		}
		switch {
		case o.want == "" && got != "SHIPPED" && got != "CANCELLED:OUT_OF_STOCK":
			t.Errorf("contended order %s: %s", o.id, got)
		case o.want != "" && got != o.want:
			t.Errorf("order %s (%v): %s, want %s", o.id, o.req, got, o.want)
		}
		if got == "SHIPPED" {
			for _, it := range o.req.Items {
				shipped[it.SKU] += int64(it.Quantity)
			}
			if o.req.Items[0].SKU == "SCARCE" {
				scarceShipped++
			}
		}
	}
	// An order is terminal before its reservation is committed in the ledger: catch up first.
	if err := itest.WaitNoLag(itest.Context(t, 2*time.Minute), p.cfg, catalog.Inputs(p.topo)); err != nil {
		t.Fatalf("processors did not catch up: %v", err)
	}
	if scarceShipped != 30 {
		t.Errorf("%d orders of SCARCE shipped, want exactly its stock of 30 (never oversold, none lost)", scarceShipped)
	}
	for sku, set := range map[string]int64{"A": 10000, "B": 10000, "SCARCE": 30, "NONE": 0} {
		var st struct{ Available, Reserved int64 }
		p.call("GET", "/inventory/"+sku, nil, &st)
		if st.Available != set-shipped[sku] || st.Reserved != 0 {
			t.Errorf("%s: available %d reserved %d; want %d (set %d − shipped %d) and 0", sku, st.Available, st.Reserved, set-shipped[sku], set, shipped[sku])
		}
	}
	if t.Failed() {
		return
	}

	// Debezium delivers at least once: redeliver every captured OrderPlaced of the first ten
	// orders. Nothing may change: no second reservation, no status version bump.
	cfg := p.cfg
	ids := map[string]bool{}
	before := map[string]orderResp{}
	for _, o := range plan[:10] {
		ids[o.id] = true
		var r orderResp
		p.call("GET", "/orders/"+o.id, nil, &r)
		before[o.id] = r
	}
	var dups []*sarama.ConsumerMessage
	itest.ConsumeUntil(itest.Context(t, time.Minute), cfg, string(p.topo.OrderEvents()), func(m *sarama.ConsumerMessage) bool {
		if ids[string(m.Key)] {
			dups = append(dups, m)
		}
		return len(dups) == len(ids)
	})
	producer, err := sarama.NewSyncProducer(cfg.Brokers, kafka.NewSaramaConfig("itest-dup"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for _, m := range dups {
		var hdrs []sarama.RecordHeader
		for _, h := range m.Headers {
			hdrs = append(hdrs, *h)
		}
		part, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: m.Topic, Key: sarama.ByteEncoder(m.Key), Value: sarama.ByteEncoder(m.Value), Headers: hdrs})
		if err != nil {
			t.Fatal(err)
		}
		if part != m.Partition {
			t.Errorf("our producer put key %s on partition %d, Debezium on %d", m.Key, part, m.Partition)
		}
	}
	groups := catalog.Inputs(p.topo)
	if err := itest.WaitNoLag(itest.Context(t, 2*time.Minute), cfg, groups); err != nil {
		t.Fatalf("processors did not consume the redelivered events: %v", err)
	}
	for id, b := range before {
		var r orderResp
		p.call("GET", "/orders/"+id, nil, &r)
		if r.Version != b.Version || r.Status != b.Status {
			t.Errorf("order %s changed after a redelivered event: version %d→%d, status %s→%s", id, b.Version, r.Version, b.Status, r.Status)
		}
	}
	for sku, set := range map[string]int64{"A": 10000, "B": 10000} {
		var st struct{ Available, Reserved int64 }
		p.call("GET", "/inventory/"+sku, nil, &st)
		if st.Available != set-shipped[sku] || st.Reserved != 0 {
			t.Errorf("%s after redelivery: available %d reserved %d; want %d and 0", sku, st.Available, st.Reserved, set-shipped[sku])
		}
	}
}
