//go:build integration

package runner_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

const securityKeys = `
ops   0123456789abcdef-ops    operations
alice 0123456789abcdef-alice  customer customer=c-alice
bob   0123456789abcdef-bob    customer customer=c-bob
`

// With API keys configured on the real pipeline: no token is 401, a wrong scope 403, a customer
// places and follows its own order to SHIPPED and cannot see another customer's (404), and
// /metrics wants the operations scope.
func TestIntegrationAPIAuthentication(t *testing.T) {
	keys, err := auth.ParseKeys(strings.NewReader(securityKeys))
	if err != nil {
		t.Fatal(err)
	}
	p := deploy(t)
	p.start(runner.Config{Processors: topology.Processors(), API: true, Auth: keys})
	as := func(who string) { p.token = "0123456789abcdef-" + who }

	as("nobody")
	if code := p.call("GET", "/orders?limit=1", nil, nil); code != 401 {
		t.Errorf("unknown token: %d, want 401", code)
	}
	p.token = ""
	if code := p.call("PUT", "/inventory/A", map[string]int64{"available": 5}, nil); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
	if code := p.call("GET", "/metrics", nil, nil); code != 401 {
		t.Errorf("metrics without a token: %d, want 401", code)
	}
	as("alice")
	if code := p.call("PUT", "/inventory/A", map[string]int64{"available": 5}, nil); code != 403 {
		t.Errorf("customer sets stock: %d, want 403", code)
	}
	if code := p.call("GET", "/metrics", nil, nil); code != 403 {
		t.Errorf("customer reads metrics: %d, want 403", code)
	}
	as("ops")
	if code := p.call("PUT", "/inventory/A", map[string]int64{"available": 5}, nil); code != 202 {
		t.Fatalf("operations set stock: %d", code)
	}
	waitStock(t, p, "A", 5, 0)
	if code := p.call("GET", "/metrics", nil, nil); code != 200 {
		t.Errorf("operations read metrics: %d", code)
	}

	as("alice")
	var created, final orderResp
	if code := p.call("POST", "/orders", orderReq{"c-alice", "EUR", []item{{"A", 1, 100}}}, &created); code != 201 {
		t.Fatalf("alice places her order: %d", code)
	}
	if code := p.call("POST", "/orders", orderReq{"c-bob", "EUR", []item{{"A", 1, 100}}}, nil); code != 403 {
		t.Errorf("alice places an order for bob: %d, want 403", code)
	}
	p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
	if final.Status != "SHIPPED" {
		t.Fatalf("alice's order: %+v", final)
	}
	if code := p.call("GET", "/orders?limit=5", nil, nil); code != 403 {
		t.Errorf("alice lists every order: %d, want 403", code)
	}
	as("bob")
	start := time.Now()
	if code := p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=30s", nil, nil); code != 404 {
		t.Errorf("bob reads alice's order: %d, want 404", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("bob's 404 took %s: it must not wait", d)
	}
}

// Passwords given through the environment appear neither in help texts nor in what a process
// logs when it fails to reach its database.
func TestIntegrationSecretsStayOutOfHelpAndLogs(t *testing.T) {
	const secret = "Pa55-w0rd-never-shown"
	env := append(os.Environ(), "ORDERFLOW_PG_DSN=postgres://orderflow:"+secret+"@127.0.0.1:1/orderflow",
		"ORDERFLOW_REGISTRY_URL=http://user:"+secret+"@127.0.0.1:1/apis/ccompat/v7", "ORDERFLOW_PG_PASSWORD="+secret,
		"ORDERFLOW_KAFKA_USERNAME=orderflow", "ORDERFLOW_KAFKA_PASSWORD="+secret, "ORDERFLOW_KAFKA_TLS=true",
		"ORDERFLOW_PG_APP_PASSWORD="+secret, "ORDERFLOW_PG_CDC_PASSWORD="+secret)
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"setup", "--help"}, {"load", "--help"},
		{"setup", "--app-role", "orderflow_app", "--cdc-role", "orderflow_cdc", "--timeout", "3s"},
		{"stack", "probe", "kafka", "--brokers", "127.0.0.1:1", "--timeout", "3s"},
		{"run", "--processors", "none", "--api", "--addr", "127.0.0.1:0", "--timeout", "3s"}} {
		cmd := exec.Command(binary(t), args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		done := make(chan struct{})
		go func() { cmd.Run(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if strings.Contains(out.String(), secret) {
			t.Errorf("orderflow %s printed the password:\n%s", strings.Join(args, " "), out.String())
		}
		if len(args) > 1 && args[1] == "--processors" && !strings.Contains(out.String(), "orderflow:") {
			t.Logf("orderflow %s: %s", strings.Join(args, " "), out.String())
		}
	}
}

// Through the native stack's SASL_SSL listener, a client without credentials, with a wrong
// password or without the broker's CA is refused; with them, the whole pipeline (processors,
// their tables and emitters, the views, topic administration and the lag gauges) runs an order
// to SHIPPED with no other broker address than that listener's.
func TestIntegrationKafkaSASLSSL(t *testing.T) {
	brokers, sec := itest.KafkaSASL(t)
	connect := func(s kafka.Security) error {
		cfg := kafka.NewSaramaConfig("orderflow-sasl-test")
		if err := s.Apply(cfg); err != nil {
			return err
		}
		cfg.Net.DialTimeout = 5 * time.Second
		cfg.Net.ReadTimeout = 5 * time.Second
		cfg.Metadata.Retry.Max = 0
		client, err := sarama.NewClient(brokers, cfg)
		if err != nil {
			return err
		}
		defer client.Close()
		return client.RefreshMetadata()
	}
	wrongPassword, noCA := sec, sec
	wrongPassword.Password += "-wrong"
	noCA.CAFile, noCA.TLS = "", true
	for name, s := range map[string]kafka.Security{
		"PLAINTEXT":              {},
		"TLS without SASL":       {CAFile: sec.CAFile},
		"a wrong password":       wrongPassword,
		"no trust in the broker": noCA,
	} {
		if err := connect(s); err == nil {
			t.Errorf("a client with %s reached the SASL_SSL listener", name)
		}
	}
	if err := connect(sec); err != nil {
		t.Fatalf("with its credentials, a client is refused: %v", err)
	}

	p := deploy(t) // topics, schemas, outbox and connector set up as usual
	previous := kafka.CurrentSecurity()
	kafka.SetSecurity(sec)
	t.Cleanup(func() { kafka.SetSecurity(previous) })
	p.cfg.Brokers = brokers
	p.start(runner.Config{Processors: topology.Processors(), API: true})
	if code := p.call("PUT", "/inventory/S", map[string]int64{"available": 3}, nil); code != 202 {
		t.Fatalf("set stock: %d", code)
	}
	waitStock(t, p, "S", 3, 0)
	var created, final orderResp
	if code := p.call("POST", "/orders", orderReq{"c-sasl", "EUR", []item{{"S", 2, 250}}}, &created); code != 201 {
		t.Fatalf("place order: %d", code)
	}
	p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
	if final.Status != "SHIPPED" {
		t.Fatalf("order over SASL_SSL: %+v", final)
	}
	waitStock(t, p, "S", 1, 0)
}
