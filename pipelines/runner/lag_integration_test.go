//go:build integration

package runner_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// metric returns the value of the first sample of name carrying every label given.
func metric(body, name string, labels ...string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
next:
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		for _, l := range labels {
			if !strings.Contains(m[1], l) {
				continue next
			}
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		return v, true
	}
	return 0, false
}

// With processors stopped, messages pile up: the lag meter sees their count and age and reports
// an SLO breach; once processors run, the lag drains to zero and the breach clears. /metrics
// exports the lag, the counters and the recovery state.
func TestIntegrationLagSLOAndMetrics(t *testing.T) {
	p := deploy(t)
	producer, err := sarama.NewSyncProducer(p.cfg.Brokers, kafka.NewSaramaConfig("itest-lag"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	const n = 60
	for i := 0; i < n; i++ { // undecodable on purpose: processed quickly, into the dead-letter topic
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: string(p.topo.OrderEvents()),
			Key: sarama.StringEncoder(fmt.Sprintf("k-%d", i)), Value: sarama.StringEncoder("not avro")}); err != nil {
			t.Fatal(err)
		}
	}
	meter, err := lag.NewMeter(p.cfg.Brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer meter.Close()
	groups := catalog.Inputs(p.topo)
	const slo = time.Second
	time.Sleep(slo + 200*time.Millisecond) // the oldest message must be older than the SLO
	ps, err := meter.Measure(itest.Context(t, time.Minute), groups)
	if err != nil {
		t.Fatal(err)
	}
	var payLag int64
	for _, pt := range ps {
		if pt.Group == string(p.topo.Group(topology.GroupPayments)) && pt.Topic == string(p.topo.OrderEvents()) {
			payLag += pt.Lag
		}
	}
	if payLag != n {
		t.Errorf("payments lag on the order topic = %d, want %d", payLag, n)
	}
	if len(lag.Breaches(ps, slo)) == 0 {
		t.Fatalf("no SLO breach reported with %d messages older than %s waiting", n, slo)
	}

	addr := freeAddr(t)
	p.start(runner.Config{Processors: topology.Processors(), MetricsAddr: addr, LagSLO: slo})
	if err := itest.WaitNoLag(itest.Context(t, 2*time.Minute), p.cfg, groups); err != nil {
		t.Fatalf("lag did not drain: %v", err)
	}
	ps, err = meter.Measure(itest.Context(t, time.Minute), groups)
	if err != nil || len(lag.Breaches(ps, slo)) != 0 {
		t.Fatalf("after draining: breaches %v, err %v", lag.Breaches(ps, slo), err)
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	if v, ok := metric(text, "orderflow_messages_dead_lettered_total", `processor="payments"`, `kind="bad_magic_byte"`); !ok || v != n {
		t.Errorf("orderflow_messages_dead_lettered_total for payments = %v (found %v), want %d", v, ok, n)
	}
	if v, ok := metric(text, "orderflow_decode_errors_total", `processor="order-status"`); !ok || v != n {
		t.Errorf("orderflow_decode_errors_total for order-status = %v (found %v), want %d", v, ok, n)
	}
	if _, ok := metric(text, "orderflow_consumer_lag_messages", `topic="`+string(p.topo.OrderEvents())+`"`); !ok {
		t.Error("orderflow_consumer_lag_messages missing for the order topic")
	}
	if v, ok := metric(text, "orderflow_lag_slo_breached"); !ok || v != 0 {
		t.Errorf("orderflow_lag_slo_breached = %v (found %v), want 0 after draining", v, ok)
	}
	if v, ok := metric(text, "orderflow_table_recovered", `role="processor"`); !ok || v != 1 {
		t.Errorf("orderflow_table_recovered = %v (found %v), want 1", v, ok)
	}
}
