package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/pipelines/loadgen"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders"
)

// pipelineEnv is a private deployment of the whole pipeline: topics, an outbox schema, a
// Debezium connector, and (when started) an `orderflow run` process with every processor.
type pipelineEnv struct {
	*Deployment
	ep        endpoints.Endpoints
	schema    string
	pool      *pgxpool.Pool
	store     *orders.Store
	conn      connectors.Connector
	connect   *connectors.Client
	binary    string
	stateDir  string
	procs     *exec.Cmd
	procsDone chan error
	metrics   string // the processors' /metrics URL
	pprof     string // their /debug/pprof/ base URL
}

func newPipelineEnv(ctx context.Context, ep endpoints.Endpoints, binary string) (*pipelineEnv, error) {
	d, err := Deploy(ctx, ep)
	if err != nil {
		return nil, err
	}
	e := &pipelineEnv{Deployment: d, ep: ep, binary: binary, connect: connectors.NewClient(ep.ConnectURL),
		schema: strings.ReplaceAll(d.Topology.Prefix, "-", "_")}
	if e.stateDir, err = os.MkdirTemp("", "orderflow-bench-state-"); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(ep.PGDSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pc.MaxConns = 32
	if e.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	e.store = orders.NewStore(e.pool, d.Serde, e.schema)
	if err := e.store.Migrate(ctx); err != nil {
		e.close()
		return nil, err
	}
	e.conn, err = connectors.ForDeployment(ep, d.Topology.Prefix, e.schema, connectors.WithSetting("slot.drop.on.stop", "true"))
	if err != nil {
		e.close()
		return nil, err
	}
	if err := e.connect.Apply(ctx, e.conn); err != nil {
		e.close()
		return nil, fmt.Errorf("bench connector: %w", err)
	}
	if err := connectors.WaitStreaming(ctx, e.pool, e.conn); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// close stops the processors and removes connector, slot, schema and topics.
func (e *pipelineEnv) close() {
	e.stopProcessors()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if e.conn.Name != "" {
		_ = connectors.Remove(ctx, e.connect, e.pool, e.conn)
	}
	if e.pool != nil {
		_, _ = e.pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+e.schema+` CASCADE`)
		e.pool.Close()
	}
	_ = e.Remove()
	if e.stateDir != "" {
		os.RemoveAll(e.stateDir)
	}
}

// startProcessors runs `orderflow run` with every processor (no API) on the deployment, with
// /metrics and pprof on a free port, and waits until its tables are recovered.
func (e *pipelineEnv) startProcessors(ctx context.Context, logDir string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{"run", "--processors", "all", "--api=false", "--prefix", e.Topology.Prefix, "--schema", e.schema,
		"--state-dir", filepath.Join(e.stateDir, "processors"), "--metrics-addr", addr, "--pprof"}
	cmd := exec.Command(e.binary, args...)
	cmd.Env = append(os.Environ(), "ORDERFLOW_BROKERS="+strings.Join(e.ep.Brokers, ","), "ORDERFLOW_PG_DSN="+e.ep.PGDSN,
		"ORDERFLOW_REGISTRY_URL="+e.ep.RegistryURL)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(logDir, "processors.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start processors: %w", err)
	}
	e.procs, e.procsDone = cmd, make(chan error, 1)
	go func() { e.procsDone <- cmd.Wait(); logFile.Close() }()
	e.metrics, e.pprof = "http://"+addr+"/metrics", "http://"+addr+"/debug/pprof/"
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case err := <-e.procsDone:
			e.procs = nil
			return fmt.Errorf("processors exited (%v); see %s", err, logFile.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if m, err := loadgen.Scrape(ctx, http.DefaultClient, e.metrics); err == nil && m.ProcessorTablesRecovered == len(topology.Processors()) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processors not ready after 2m; see %s", logFile.Name())
		}
	}
}

// stopProcessors ends the processors process (SIGTERM, then SIGKILL after 30 s).
func (e *pipelineEnv) stopProcessors() {
	if e.procs == nil {
		return
	}
	_ = e.procs.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.procsDone:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-e.procs.Process.Pid, syscall.SIGKILL)
		<-e.procsDone
	}
	e.procs = nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// seedStock sets the stock of the load mix for n orders through the outbox.
func (e *pipelineEnv) seedStock(ctx context.Context, n int) error {
	for sku, units := range loadgen.Stock(n) {
		if _, err := e.store.SetStock(ctx, sku, units, ""); err != nil {
			return err
		}
	}
	return nil
}
