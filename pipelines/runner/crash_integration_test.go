//go:build integration

// Failure-mode tests on the real stack: a second instance taking over, a connector restart, and
// kill -9 mid-load (killed_integration_test.go). `make test-failure` runs just these.

package runner_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/loadgen"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/orderflow once: crash tests need a process they can kill -9.
func binary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "orderflow-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "orderflow")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/orderflow").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is `orderflow run --processors all --api=false` (or the processors named) in a process of its own.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
}

func (p *pipeline) spawn(t *testing.T, name string, processors ...string) *proc {
	pr, err := p.launch(t, name, processors...)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// launch is spawn reporting a failure to start instead of ending the test, for callers off the
// test's goroutine (where t.Fatal must not be called).
func (p *pipeline) launch(t *testing.T, name string, processors ...string) (*proc, error) {
	which := "all"
	if len(processors) > 0 {
		which = strings.Join(processors, ",")
	}
	cmd := exec.Command(binary(t), "run", "--processors", which, "--api=false",
		"--prefix", p.topo.Prefix, "--schema", p.schema, "--state-dir", filepath.Join(p.state, name))
	cmd.Env = append(os.Environ(), "ORDERFLOW_BROKERS="+strings.Join(p.cfg.Brokers, ","),
		"ORDERFLOW_REGISTRY_URL="+p.cfg.RegistryURL, "ORDERFLOW_PG_DSN="+p.cfg.PGDSN)
	logf, err := os.OpenFile(filepath.Join(logDir(t), p.topo.Prefix+"-"+name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start instance %s: %w", name, err)
	}
	pr := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(pr.exited) }()
	t.Cleanup(func() { pr.cmd.Process.Kill(); <-pr.exited })
	return pr, nil
}

func (pr *proc) signal(t *testing.T, sig syscall.Signal) {
	if err := pr.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pr.exited:
	case <-time.After(45 * time.Second):
		t.Fatalf("process did not exit after %v", sig)
	}
}

// loadAndCheck places n orders of the mix at rate while during() runs, then checks (checkLoad) that every
// order completed with the outcome counts of a run without failures, that stock is conserved and
// nothing is left reserved, and that no order was refunded twice.
func (p *pipeline) loadAndCheck(t *testing.T, n int, rate float64, during func()) {
	p.checkLoad(t, loadgen.Config{Orders: n, Rate: rate, Concurrency: 64}, during)
}

// checkLoad runs the load lc (against p's API, stock seeded) while during() runs and checks the
// outcome as loadAndCheck says.
func (p *pipeline) checkLoad(t *testing.T, lc loadgen.Config, during func()) loadgen.Result {
	ctx := itest.Context(t, 8*time.Minute)
	lc.API, lc.Seed, lc.Wait = p.base, true, 3*time.Minute
	n := lc.Orders
	var res loadgen.Result
	var err error
	done := make(chan struct{})
	go func() {
		res, err = loadgen.Run(ctx, lc)
		close(done)
	}()
	during()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	want, shipped := loadgen.Expected(n)
	if res.Failed > 0 || !reflect.DeepEqual(res.Outcomes, want) {
		t.Fatalf("outcomes %v (%d failed), want %v; orders not terminal: %v", res.Outcomes, res.Failed, want, res.Stuck)
	}
	t.Logf("%d orders: p50 %s p99 %s", n, res.Percentile(50), res.Percentile(99))
	// An order is terminal before its reservation is committed in the ledger (reservations →
	// sku-commands → inventory runs after the shipment): let every processor catch up first.
	if err := itest.WaitNoLag(itest.Context(t, 2*time.Minute), p.cfg, catalog.Inputs(p.topo)); err != nil {
		t.Fatalf("processors did not catch up: %v", err)
	}
	for sku, set := range loadgen.Stock(n) {
		var st struct{ Available, Reserved int64 }
		p.call("GET", "/inventory/"+sku, nil, &st)
		if st.Available != set-shipped[sku] || st.Reserved != 0 {
			t.Errorf("%s: available %d reserved %d; want %d (set %d − shipped %d) and 0", sku, st.Available, st.Reserved, set-shipped[sku], set, shipped[sku])
		}
	}
	serde, err := codec.New(codec.NewSRClient(p.cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	atMostOnce(t, p, serde, string(p.topo.PaymentEvents()), "refunded", func(r schemas.PaymentRefunded) string { return r.OrderID })
	checkStatusChanges(t, p, serde, n)
	return res
}

// atMostOnce checks that no order has events of type T under more than one event id on topic (a
// copy sent again carries its first's id); what names the fault ("refunded").
func atMostOnce[T schemas.Event](t *testing.T, p *pipeline, serde *codec.Serde, topic, what string, orderOf func(T) string) {
	t.Helper()
	ids := map[string]map[string]bool{}
	readAll(t, p, topic, func(m *sarama.ConsumerMessage) {
		ev, err := serde.Decode(m.Value)
		if err != nil {
			return
		}
		if e, ok := ev.(T); ok {
			order := orderOf(e)
			if ids[order] == nil {
				ids[order] = map[string]bool{}
			}
			ids[order][e.Metadata().EventID] = true
		}
	})
	for order, set := range ids {
		if len(set) > 1 {
			t.Errorf("order %s %s %d times", order, what, len(set))
		}
	}
}

// readAll calls fn for every message of topic, each partition read to the end it has now.
func readAll(t *testing.T, p *pipeline, topic string, fn func(*sarama.ConsumerMessage)) {
	t.Helper()
	client, err := sarama.NewClient(p.cfg.Brokers, kafka.NewSaramaConfig("itest-read"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := kafka.ReadTopic(itest.Context(t, time.Minute), client, topic, fn); err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
}

// checkStatusChanges checks the status-change topic: every order's transitions, one event id
// each (a copy sent again after a crash has the same id and content), form a chain from UNKNOWN
// to a terminal status with no gap, so none was lost and none was emitted twice.
func checkStatusChanges(t *testing.T, p *pipeline, serde *codec.Serde, n int) {
	t.Helper()
	byOrder := map[string]map[string]schemas.OrderStatusChanged{} // order → event id → change
	copies := 0
	readAll(t, p, string(p.topo.StatusChanges()), func(m *sarama.ConsumerMessage) {
		if ev, err := serde.Decode(m.Value); err == nil {
			if c, ok := ev.(schemas.OrderStatusChanged); ok {
				if byOrder[c.OrderID] == nil {
					byOrder[c.OrderID] = map[string]schemas.OrderStatusChanged{}
				}
				if prev, seen := byOrder[c.OrderID][c.Meta.EventID]; seen {
					copies++
					if !reflect.DeepEqual(prev, c) {
						t.Errorf("order %s: two different changes with event id %s: %+v and %+v", c.OrderID, c.Meta.EventID, prev, c)
					}
				}
				byOrder[c.OrderID][c.Meta.EventID] = c
			}
		}
	})
	terminal := 0
	for order, changes := range byOrder {
		chain := slices.SortedFunc(maps.Values(changes), func(a, b schemas.OrderStatusChanged) int { return int(a.Version - b.Version) })
		from := schemas.StatusUnknown
		for _, c := range chain {
			if c.FromStatus != from && !(c.FromStatus == schemas.StatusCancelled && c.ToStatus == schemas.StatusCancelled) {
				t.Errorf("order %s: transitions %+v do not chain (a change lost or emitted twice)", order, chain)
				break
			}
			from = c.ToStatus
		}
		if from.Terminal() {
			terminal++
		} else {
			t.Errorf("order %s: its changes %+v end at %s", order, chain, from)
		}
	}
	if terminal != n {
		t.Errorf("%d orders have a chain of changes to a terminal status, want %d", terminal, n)
	}
	t.Logf("status changes: %d orders, every transition once (%d copies with the same id sent again after the crash)", len(byOrder), copies)
}

func startAPIOnly(t *testing.T) *pipeline {
	p := deploy(t)
	p.start(runner.Config{API: true})
	return p
}

// Two instances share the partitions; stopping one moves its partitions to the other and no
// order is lost.
func TestIntegrationSecondInstanceTakesOver(t *testing.T) {
	p := startAPIOnly(t)
	a := p.spawn(t, "a")
	p.spawn(t, "b")
	p.loadAndCheck(t, 1000, 200, func() {
		time.Sleep(3 * time.Second)
		a.signal(t, syscall.SIGTERM)
	})
}

// Restarting the Debezium connector mid-load makes it resume from its last stored offset:
// records may come again (duplicates are ignored), none is lost.
func TestIntegrationConnectorRestartMidLoad(t *testing.T) {
	p := deploy(t, connectors.WithSetting("slot.drop.on.stop", "false")) // the slot must outlive the restart
	p.start(runner.Config{Processors: topology.Processors(), API: true})
	client := connectors.NewClient(p.cfg.ConnectURL)
	p.loadAndCheck(t, 1000, 200, func() {
		time.Sleep(2 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		name := "itest-" + p.schema
		if err := client.Restart(ctx, name); err != nil {
			t.Errorf("restart connector: %v", err)
			return
		}
		if err := client.WaitRunning(ctx, name); err != nil {
			t.Errorf("connector after restart: %v", err)
		}
	})
}

// logDir keeps the spawned processes' logs after the test (ORDERFLOW_TEST_LOGS, default a temp dir).
func logDir(t *testing.T) string {
	dir := os.Getenv("ORDERFLOW_TEST_LOGS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "orderflow-test-logs")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
