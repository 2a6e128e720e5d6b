//go:build integration

// The chaos run: orders flow while a schedule injects the faults production sees, one at a time
// with recovery in between, and the end state must be the one a failure-free run gives.
// `make test` runs a short version on the stack it has; `make chaos` runs 16 000 orders on the
// 3-broker cluster (`make up BROKERS=3`) three times and writes RELIABILITY.md.

package runner_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/deadletter"
	"github.com/orderflow/orderflow/pipelines/loadgen"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// chaos is one chaos run: the pipeline, its two processor instances and what each fault did.
type chaos struct {
	t         *testing.T
	p         *pipeline
	meter     *lag.Meter
	groups    map[string][]string
	connect   *connectors.Client
	connector string

	mu        sync.Mutex
	instances map[string]*proc     // processor instances by name ("a", "b")
	expected  map[string]bool      // instances a fault stopped on purpose
	started   map[string]time.Time // when each instance was last started by supervise
	restarts  int                  // instances found dead and started again (as a supervisor would)
}

// faultResult is what one fault cost.
type faultResult struct {
	Name     string
	Down     time.Duration // from the fault to its repair (the process back, the pause over)
	Recover  time.Duration // from the fault to the lag back at its level before the fault
	LagPeak  int64         // the highest total lag of the processor groups meanwhile
	Baseline int64         // the total lag before the fault
	Restarts int           // processor instances that died and were started again meanwhile
}

// fault is injected by do, which returns once the fault is repaired.
type fault struct {
	key  string // its name in ORDERFLOW_CHAOS_FAULTS
	name string
	do   func(c *chaos)
}

// schedule is the faults ORDERFLOW_CHAOS_FAULTS names, comma-separated keys in the order given
// (a key may repeat, e.g. "pause,pause,pause" to hunt a fault's race), or all of them once.
func schedule(t *testing.T, all []fault) []fault {
	v := os.Getenv("ORDERFLOW_CHAOS_FAULTS")
	if v == "" {
		return all
	}
	var out []fault
	for _, key := range strings.Split(v, ",") {
		i := slices.IndexFunc(all, func(f fault) bool { return f.key == strings.TrimSpace(key) })
		if i < 0 {
			t.Fatalf("ORDERFLOW_CHAOS_FAULTS: no fault %q", key)
		}
		out = append(out, all[i])
	}
	return out
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Every order reaches the outcome it has without failures, stock is conserved, nothing is
// charged or refunded twice, no status transition is lost or doubled, and no dead letter
// appears, while: a processor instance is killed (-9), another stopped (SIGTERM), the broker
// leading most of the pipeline's partitions killed (-9), Kafka Connect restarted, PostgreSQL
// restarted, and a broker paused longer than the session timeouts. ORDERFLOW_CHAOS_ORDERS
// (default 4000) orders at ORDERFLOW_CHAOS_RATE (default 40) per second, which last about as long
// as the schedule on one broker; ORDERFLOW_CHAOS_REPORT
// names a file the run's figures are appended to (a Markdown table).
func TestIntegrationChaos(t *testing.T) {
	orders, rate := envInt("ORDERFLOW_CHAOS_ORDERS", 4000), envInt("ORDERFLOW_CHAOS_RATE", 40)
	itest.ServicePID(t, "kafka")                                         // native stack only: the faults drive its processes
	p := deploy(t, connectors.WithSetting("slot.drop.on.stop", "false")) // the slot outlives Connect's restart
	p.start(runner.Config{API: true})
	meter, err := lag.NewMeter(p.cfg.Brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer meter.Close()
	c := &chaos{t: t, p: p, meter: meter, groups: catalog.Inputs(p.topo), connect: connectors.NewClient(p.cfg.ConnectURL),
		connector: "itest-" + p.schema, instances: map[string]*proc{}, expected: map[string]bool{}, started: map[string]time.Time{}}
	c.instances["a"], c.instances["b"] = p.spawn(t, "a"), p.spawn(t, "b")
	brokers := c.brokerCount()
	if brokers >= 3 {
		c.checkReplication()
	}

	faults := schedule(t, []fault{
		{"kill-a", "kill -9 of processor instance a", func(c *chaos) { c.stopInstance("a", syscall.SIGKILL, 2*time.Second) }},
		{"term-b", "SIGTERM of processor instance b", func(c *chaos) { c.stopInstance("b", syscall.SIGTERM, 2*time.Second) }},
		{"kill-broker", "kill -9 of the broker leading most partitions", func(c *chaos) { c.killBroker(c.busiestBroker(), 5*time.Second) }},
		{"connect", "restart of Kafka Connect", func(c *chaos) { c.restart("connect") }},
		{"postgres", "restart of PostgreSQL", func(c *chaos) { c.restart("postgres") }},
		{"pause", "pause (SIGSTOP) of a broker for 15 s", func(c *chaos) { c.pauseBroker(c.busiestBroker(), 15*time.Second) }},
	})
	var results []faultResult
	start := time.Now()
	p.checkLoad(t, loadgen.Config{Orders: orders, Rate: float64(rate), Concurrency: 64, OpenLoop: true, Retry: 3 * time.Minute}, func() {
		c.ordersFlowing(3 * rate) // the loader seeds the stock first, and waits until the view shows it
		c.settle(5 * time.Second)
		for _, f := range faults {
			results = append(results, c.run(f))
			c.settle(3 * time.Second)
		}
	})
	elapsed := time.Since(start)
	rss := c.instanceRSS()
	c.checkNoDoubleCharge()
	c.checkNoDeadLetters()
	c.report(results, orders, rate, brokers, elapsed, rss)
}

// instanceRSS describes the peak resident memory of each running processor instance.
func (c *chaos) instanceRSS() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(c.instances)) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.instances[name].cmd.Process.Pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				parts = append(parts, fmt.Sprintf("%s %d MiB", name, kb>>10))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// run injects f and measures it: the total lag is sampled every 500 ms from the fault until it
// is back at its level before the fault (twice in a row), dead instances are started again.
func (c *chaos) run(f fault) faultResult {
	t := c.t
	r := faultResult{Name: f.name, Baseline: c.lag()}
	threshold := max(2*r.Baseline, r.Baseline+300)
	c.mu.Lock()
	restartsBefore := c.restarts
	c.mu.Unlock()
	t.Logf("chaos: %s (lag %d)", f.name, r.Baseline)
	start := time.Now()
	stop := make(chan struct{})
	var peak int64
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if l := c.lag(); l > peak {
					peak = l
				}
				c.supervise()
			}
		}
	})
	f.do(c)
	r.Down = time.Since(start)
	deadline := time.Now().Add(3 * time.Minute)
	below := 0
	for below < 2 {
		if time.Now().After(deadline) {
			close(stop)
			sampler.Wait()
			t.Fatalf("chaos: %s: lag not back under %d within 3 minutes of the repair (now %d)", f.name, threshold, c.lag())
		}
		time.Sleep(500 * time.Millisecond)
		if l := c.lag(); l >= 0 && l <= threshold {
			below++
		} else {
			below = 0
		}
	}
	r.Recover = time.Since(start)
	close(stop)
	sampler.Wait()
	r.LagPeak = max(peak, 0)
	c.mu.Lock()
	r.Restarts = c.restarts - restartsBefore
	c.mu.Unlock()
	t.Logf("chaos: %s: repaired after %s, recovered after %s, lag peak %d", f.name, r.Down.Round(100*time.Millisecond), r.Recover.Round(100*time.Millisecond), r.LagPeak)
	return r
}

// ordersFlowing waits until n orders have reached the order-events topic, so that the first
// fault hits a pipeline with orders flowing.
func (c *chaos) ordersFlowing(n int) {
	client, err := sarama.NewClient(c.p.cfg.Brokers, kafka.NewSaramaConfig("itest-chaos"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer client.Close()
	topic := string(c.p.topo.OrderEvents())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var placed int64
		parts, err := client.Partitions(topic)
		for _, part := range parts {
			end, perr := client.GetOffset(topic, part, sarama.OffsetNewest)
			err = errors.Join(err, perr)
			placed += end
		}
		if err == nil && placed >= int64(n) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("chaos: %d orders on %s after 2 minutes, want %d before the first fault (%v)", placed, topic, n, err)
		}
		c.supervise()
		time.Sleep(250 * time.Millisecond)
	}
}

// settle waits d, starting dead instances again meanwhile.
func (c *chaos) settle(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		c.supervise()
		time.Sleep(250 * time.Millisecond)
	}
}

// lag is the total lag of the pipeline's groups, -1 when it cannot be measured (a broker down).
func (c *chaos) lag() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps, err := c.meter.Measure(ctx, c.groups)
	if err != nil {
		return -1
	}
	return lag.Total(ps)
}

// supervise starts again, in its own state directory, an instance that died without a fault
// stopping it, at most every 2 s (as an orchestrator restarts a crashed pod, with a back-off).
func (c *chaos) supervise() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, pr := range c.instances {
		select {
		case <-pr.exited:
			if !c.expected[name] && time.Since(c.started[name]) > 2*time.Second {
				c.started[name] = time.Now()
				c.t.Logf("chaos: instance %s exited (%v); starting it again", name, pr.cmd.ProcessState)
				next, err := c.p.launch(c.t, name) // off the test's goroutine: no t.Fatal here
				if err != nil {
					c.t.Errorf("chaos: %v", err)
					continue
				}
				c.instances[name] = next
				c.restarts++
			}
		default:
		}
	}
}

// stopInstance signals a processor instance, waits for it to exit, and starts it again after
// down.
func (c *chaos) stopInstance(name string, sig syscall.Signal, down time.Duration) {
	c.mu.Lock()
	pr := c.instances[name]
	c.expected[name] = true
	c.mu.Unlock()
	pr.signal(c.t, sig)
	time.Sleep(down)
	c.mu.Lock()
	c.instances[name] = c.p.spawn(c.t, name) // same state directory, as a restarted pod has
	delete(c.expected, name)
	c.mu.Unlock()
}

func (c *chaos) brokerCount() int {
	admin, err := kafka.NewAdmin(c.p.cfg.Brokers)
	if err != nil {
		c.t.Fatal(err)
	}
	defer admin.Close()
	bs, _, err := admin.DescribeCluster()
	if err != nil {
		c.t.Fatal(err)
	}
	return len(bs)
}

// checkReplication: on a cluster of three, every topic of the pipeline and Connect's internal
// topics have three replicas and min.insync.replicas 2.
func (c *chaos) checkReplication() {
	admin, err := kafka.NewAdmin(c.p.cfg.Brokers)
	if err != nil {
		c.t.Fatal(err)
	}
	defer admin.Close()
	names := []string{"_connect-configs", "_connect-offsets", "_connect-status"}
	for _, tp := range c.p.topo.Topics() {
		names = append(names, tp.Name)
	}
	metas, err := admin.DescribeTopics(names)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, m := range metas {
		for _, part := range m.Partitions {
			if len(part.Replicas) != 3 {
				c.t.Errorf("%s/%d has %d replicas, want 3", m.Name, part.ID, len(part.Replicas))
			}
		}
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: m.Name, ConfigNames: []string{"min.insync.replicas"}})
		if err != nil {
			c.t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name == "min.insync.replicas" && e.Value != "2" {
				c.t.Errorf("%s: min.insync.replicas %s, want 2", m.Name, e.Value)
			}
		}
	}
}

// busiestBroker is the native stack's service name of the broker that leads most partitions of
// the pipeline's topics.
func (c *chaos) busiestBroker() string {
	admin, err := kafka.NewAdmin(c.p.cfg.Brokers)
	if err != nil {
		c.t.Fatal(err)
	}
	defer admin.Close()
	var names []string
	for _, tp := range c.p.topo.Topics() {
		names = append(names, tp.Name)
	}
	metas, err := admin.DescribeTopics(names)
	if err != nil {
		c.t.Fatal(err)
	}
	led := map[int32]int{}
	for _, m := range metas {
		for _, part := range m.Partitions {
			led[part.Leader]++
		}
	}
	var best int32 = 1
	for id, n := range led {
		if n > led[best] || (n == led[best] && id < best) {
			best = id
		}
	}
	if best <= 1 {
		return "kafka"
	}
	return fmt.Sprintf("kafka-%d", best)
}

// killBroker kills a broker (-9) and starts it again after down.
func (c *chaos) killBroker(service string, down time.Duration) {
	pid := itest.ServicePID(c.t, service)
	c.t.Logf("chaos: kill -9 %s (pid %d)", service, pid)
	// should the test end before the repair, the next run still finds the broker (start is idempotent)
	c.t.Cleanup(func() { _ = itest.StackService(c.t, "start", service) })
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		c.t.Fatal(err)
	}
	time.Sleep(down)
	if err := itest.StackService(c.t, "start", service); err != nil {
		c.t.Fatal(err)
	}
	c.connectorRunning()
}

// pauseBroker stops a broker's process (SIGSTOP) for d, then lets it go on.
func (c *chaos) pauseBroker(service string, d time.Duration) {
	pid := itest.ServicePID(c.t, service)
	c.t.Logf("chaos: SIGSTOP %s (pid %d) for %s", service, pid, d)
	c.t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) // never leave it stopped
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		c.t.Fatal(err)
	}
	time.Sleep(d)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		c.t.Fatal(err)
	}
	c.connectorRunning()
}

// restart restarts a stack service (connect, postgres) and waits for the connector to stream.
func (c *chaos) restart(service string) {
	if err := itest.StackService(c.t, "restart", service); err != nil {
		c.t.Fatal(err)
	}
	c.connectorRunning()
}

// connectorRunning waits until the outbox connector and its task run; a task that failed is
// restarted, as an operator (or Connect's own retries) would.
func (c *chaos) connectorRunning() {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := c.connect.WaitRunning(ctx, c.connector)
		if err == nil {
			cancel()
			return
		}
		if time.Now().After(deadline) {
			cancel()
			c.t.Fatalf("chaos: connector %s not running: %v", c.connector, err)
		}
		cancel()
		c.t.Logf("chaos: connector %s: %v; restarting it", c.connector, err)
		rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := c.connect.Restart(rctx, c.connector); err != nil {
			c.t.Logf("chaos: restart connector: %v", err)
		}
		rcancel()
		time.Sleep(2 * time.Second)
	}
}

// checkNoDoubleCharge: at most one payment authorisation per order (its copies share an id).
func (c *chaos) checkNoDoubleCharge() {
	serde, err := codec.New(codec.NewSRClient(c.p.cfg.RegistryURL))
	if err != nil {
		c.t.Fatal(err)
	}
	atMostOnce(c.t, c.p, serde, string(c.p.topo.PaymentEvents()), "charged", func(a schemas.PaymentAuthorized) string { return a.OrderID })
}

// checkNoDeadLetters: the demo mix has no poison input, so a failure-free run dead-letters
// nothing; neither may a run with failures.
func (c *chaos) checkNoDeadLetters() {
	for _, topic := range c.p.topo.DeadLetterTopics() {
		entries, err := deadletter.Read(itest.Context(c.t, time.Minute), c.p.cfg.Brokers, string(topic), 0)
		if err != nil {
			c.t.Fatalf("read %s: %v", topic, err)
		}
		for _, e := range entries {
			c.t.Errorf("%s holds a dead letter from %s: %v", topic, e.Origin(), e.Headers)
		}
	}
}

// report logs the figures and appends them to ORDERFLOW_CHAOS_REPORT when it is set.
func (c *chaos) report(results []faultResult, orders, rate, brokers int, elapsed time.Duration, rss string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Run of %s: %d orders at %d/s, %d broker(s), %s\n\n", time.Now().UTC().Format(time.RFC3339), orders, rate, brokers, elapsed.Round(time.Second))
	b.WriteString("| fault | repaired after | recovered after | lag before | lag peak | instances restarted |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.1f s | %.1f s | %d | %d | %d |\n", r.Name, r.Down.Seconds(), r.Recover.Seconds(), r.Baseline, r.LagPeak, r.Restarts)
	}
	recov := make([]float64, 0, len(results))
	for _, r := range results {
		recov = append(recov, r.Recover.Seconds())
	}
	sort.Float64s(recov)
	fmt.Fprintf(&b, "\nEnd state: every order terminal with the failure-free outcomes, stock conserved, no double charge or refund, no lost or doubled status transition, no dead letter. Slowest recovery %.1f s. Peak RSS of the processor instances (all six processors each): %s.\n", slices.Max(recov), rss)
	c.t.Log(b.String())
	if path := os.Getenv("ORDERFLOW_CHAOS_REPORT"); path != "" && !c.t.Failed() {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			c.t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(b.String()); err != nil {
			c.t.Fatal(err)
		}
	}
}
