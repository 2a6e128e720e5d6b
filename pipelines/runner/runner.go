// Package runner wires orderflow's components into one process: the Goka processors (all or some
// of them), the status views and the HTTP API. `orderflow run` uses it, and so do the end-to-end
// tests, so what is tested is what runs.
//
// Several processes may run the same processors: goka shares their partitions through the
// consumer group, and a stopped instance's partitions move to the others.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/internal/pii"
	"github.com/orderflow/orderflow/internal/tracing"
	"github.com/orderflow/orderflow/pipelines/api"
	"github.com/orderflow/orderflow/pipelines/board"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/views"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/timers"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/processors/orders/outbox"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Defaults of a process; the command line shows them.
const (
	DefaultAPIAddr = "127.0.0.1:8080" // loopback: another address needs credentials (Config.Auth)
	DefaultGOGC    = 200
)

// DefaultStateDir is where tables and views are kept unless said otherwise: a directory that
// survives a reboot ($XDG_STATE_HOME/orderflow, else ~/.local/state/orderflow; the temporary
// directory only when there is no home). A table kept there restores from where it was instead
// of from the start of its changelog.
func DefaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "orderflow")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "orderflow")
	}
	return filepath.Join(os.TempDir(), "orderflow-state")
}

// ParseProcessors reads a processor list: "all", "none" (or empty), or names separated by commas.
func ParseProcessors(s string) []string {
	switch strings.TrimSpace(s) {
	case "all":
		return topology.Processors()
	case "", "none":
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

// TuneGC sets the collector's target to DefaultGOGC unless GOGC is set: processors allocate per
// message (Avro maps, table values) over a small live heap, and collecting at 3× the live heap
// instead of 2× costs tens of MiB and saves a share of the GC's CPU (see BENCHMARKS.md).
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGOGC)
	}
}

// Config of one orderflow process.
type Config struct {
	Endpoints  endpoints.Endpoints
	Topology   topology.Topology // with Versions nil, the serving versions are loaded from Kafka
	Schema     string            // PostgreSQL schema of the orders and outbox tables (default public)
	StateDir   string            // local table storage (default DefaultStateDir())
	Processors []string          // processors to run; see topology.Processors()
	API        bool              // serve the HTTP API (and its views)
	APIAddr    string            // listen address of the API (default DefaultAPIAddr); ignored when Listener is set
	Listener   net.Listener
	// MetricsAddr serves /metrics on its own listener (for processes without the API, whose
	// mux serves /metrics too). Empty: not served separately.
	MetricsAddr string
	LagSLO      time.Duration // SLO of orderflow_lag_slo_breached (default 10s)
	// Profiling serves net/http/pprof under /debug/pprof/ next to /metrics (off by default:
	// profiles reveal internals and cost CPU while taken).
	Profiling bool
	// Auth authenticates the API's callers (and guards /metrics and profiles); nil leaves them
	// open, which New allows only on a loopback address. RatePerSecond and RateBurst limit each
	// caller (defaults api.DefaultRate and api.DefaultBurst).
	Auth          auth.Authenticator
	RatePerSecond float64
	RateBurst     int
	// MaxLongPolls caps the API's requests waiting on an order's status (wait_for) at once;
	// beyond it they answer 503 with Retry-After. 0 or less: api.DefaultMaxLongPolls.
	MaxLongPolls int
}

// Validate checks the processor names.
func (c Config) Validate() error {
	for _, p := range c.Processors {
		if !slices.Contains(topology.Processors(), p) {
			return fmt.Errorf("unknown processor %q (known: %v)", p, topology.Processors())
		}
	}
	if !c.API && len(c.Processors) == 0 {
		return errors.New("nothing to run: name processors or enable the API")
	}
	if c.API && c.Auth == nil {
		addr := c.APIAddr
		if c.Listener != nil {
			addr = c.Listener.Addr().String()
		}
		if addr == "" {
			addr = DefaultAPIAddr
		}
		if !loopback(addr) {
			return fmt.Errorf("refusing to serve the API on %s without authentication: configure API keys or JWT validation "+
				"(ORDERFLOW_API_KEYS_FILE, ORDERFLOW_JWT_HS256_SECRET, ORDERFLOW_JWKS_URL; see README, Security) or listen on 127.0.0.1", addr)
		}
	}
	if (c.MetricsAddr != "" && c.Auth == nil) && !loopback(c.MetricsAddr) {
		return fmt.Errorf("refusing to serve /metrics on %s without authentication: configure credentials or listen on 127.0.0.1", c.MetricsAddr)
	}
	return nil
}

// loopback reports whether addr (host:port) listens on a loopback address only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// App is a configured orderflow process.
type App struct {
	cfg     Config
	serde   *codec.Serde
	metrics *streams.Metrics
	procs   []*goka.Processor
	// schedulers fire the deadlines of the processors that keep some (catalog.Deadlines)
	schedulers []*timers.Scheduler
	views      *views.Views
	pool       *pgxpool.Pool
	handler    http.Handler
	board      *board.Board // the operations board, with the API
	reg        *prometheus.Registry
	meter      *lag.Meter
	tracer     *sdktrace.TracerProvider
}

// New builds the process's components; nothing runs until Run.
func New(ctx context.Context, cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Schema == "" {
		cfg.Schema = outbox.DefaultSchema
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir()
	}
	serde, err := codec.New(codec.NewSRClient(cfg.Endpoints.RegistryURL, codec.WithBasicAuth(cfg.Endpoints.RegistryCredentials())))
	if err != nil {
		return nil, err
	}
	if cfg.Topology.Versions == nil {
		// the serving table version of each processor (blue/green reprocessing)
		if cfg.Topology.Versions, err = topology.LoadVersions(ctx, cfg.Endpoints.Brokers, cfg.Topology); err != nil {
			return nil, err
		}
		if len(cfg.Topology.Versions) > 0 {
			slog.Info("serving table versions", "versions", cfg.Topology.Versions)
		}
	}
	if cfg.LagSLO == 0 {
		cfg.LagSLO = lag.DefaultSLO
	}
	a := &App{cfg: cfg, serde: serde, reg: prometheus.NewRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.metrics = streams.NewMetrics(a.reg)
	if a.tracer, err = tracing.NewProvider(ctx); err != nil {
		return nil, err
	}
	if a.meter, err = lag.NewMeter(cfg.Endpoints.Brokers); err != nil {
		return nil, err
	}
	a.reg.MustRegister(lag.NewCollector(a.meter, catalog.Inputs(cfg.Topology), cfg.LagSLO))
	for _, name := range cfg.Processors {
		p, err := a.processor(name)
		if err != nil {
			return nil, fmt.Errorf("processor %s: %w", name, err)
		}
		if pending, ok := catalog.Deadlines(name); ok { // the processor's deadlines fire from its table
			sched, err := timers.New(timers.Config{Brokers: cfg.Endpoints.Brokers, Table: cfg.Topology.Table(name),
				Firings: cfg.Topology.Firings(name), Pending: pending, Serde: serde})
			if err != nil {
				return nil, err
			}
			a.schedulers = append(a.schedulers, sched)
			a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orderflow_timers_pending",
				Help: "Deadlines this process will fire when due.", ConstLabels: prometheus.Labels{"table": string(cfg.Topology.Table(name))}},
				func() float64 { return float64(sched.Pending()) }))
		}
		a.procs = append(a.procs, p)
		a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orderflow_table_recovered",
			Help: "1 once a processor's or view's table is recovered.", ConstLabels: prometheus.Labels{"table": string(cfg.Topology.Table(name)), "role": "processor"}},
			func() float64 { return boolGauge(p.Recovered()) }))
	}
	if cfg.API {
		pool, err := pgxpool.New(ctx, cfg.Endpoints.PGDSN)
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		a.pool = pool
		a.reg.MustRegister(connectors.NewSlotCollector(pool)) // WAL the replication slots hold back
		// Personal data is sealed per customer (crypto-shredding): the keystore's table lives
		// next to the orders, its master keys come from the environment or the state directory.
		masters, err := pii.LoadMasterKeys(cfg.StateDir)
		if err != nil {
			pool.Close()
			return nil, err
		}
		keystore := pii.NewKeystore(pool, cfg.Schema, masters)
		if err := keystore.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
		store := orders.NewStore(pool, serde, cfg.Schema, orders.WithKeystore(keystore))
		if err := store.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
		a.views, err = views.New(cfg.Endpoints.Brokers, cfg.Topology, serde, cfg.StateDir)
		if err != nil {
			pool.Close()
			return nil, err
		}
		mux := http.NewServeMux()
		a.serveDiagnostics(mux)
		opts := []api.Option{api.WithTracer(a.tracer.Tracer("orderflow/api")), api.WithMaxLongPolls(cfg.MaxLongPolls), api.WithMetrics(a.reg)}
		if cfg.Auth != nil {
			opts = append(opts, api.WithAuth(cfg.Auth, cfg.RatePerSecond, cfg.RateBurst))
		} else {
			slog.Warn("the API has no authentication (allowed on a loopback address only)")
		}
		mux.Handle("/", api.New(store, a.views, opts...))
		// The operations board (page and /ops/*): it checks tokens itself, with the API's scopes.
		outbox, err := connectors.ForDeployment(cfg.Endpoints, cfg.Topology.Prefix, cfg.Schema)
		if err != nil {
			pool.Close()
			return nil, err
		}
		a.board = board.New(board.Config{Views: a.views, Auth: cfg.Auth, Topology: cfg.Topology, Endpoints: cfg.Endpoints,
			Meter: a.meter, LagSLO: cfg.LagSLO, Slot: board.PostgresSlot(pool, outbox.Config["slot.name"])})
		for _, path := range []string{"/board", "/board/", "/ops/", "/whoami"} {
			mux.Handle(path, a.board)
		}
		a.handler = mux
		a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orderflow_table_recovered",
			Help: "1 once a processor's or view's table is recovered.", ConstLabels: prometheus.Labels{"table": "views", "role": "view"}},
			func() float64 { return boolGauge(a.views.Ready()) }))
	}
	return a, nil
}

// serveDiagnostics mounts /metrics, and /debug/pprof/ when profiling is on.
func (a *App) serveDiagnostics(mux *http.ServeMux) {
	ops := func(h http.Handler) http.Handler { return api.RequireOperations(a.cfg.Auth, h) }
	mux.Handle("GET /metrics", ops(promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{})))
	if a.cfg.Profiling {
		mux.Handle("/debug/pprof/", ops(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/cmdline", ops(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("/debug/pprof/profile", ops(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/symbol", ops(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("/debug/pprof/trace", ops(http.HandlerFunc(pprof.Trace)))
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (a *App) processor(name string) (*goka.Processor, error) {
	t := a.cfg.Topology
	g := catalog.Groups(t, streams.Env{Serde: a.serde, Poison: streams.DeadLetter(t, name), Metrics: a.metrics, Contracts: t.Contracts(),
		Tracer: a.tracer.Tracer("orderflow/processors/" + name)})[name]
	return goka.NewProcessor(a.cfg.Endpoints.Brokers, g,
		streams.ProcessorOptions(a.cfg.Endpoints.Brokers, t.Group(name), a.cfg.StateDir)...)
}

// Handler is the HTTP API (nil when the API is off).
func (a *App) Handler() http.Handler { return a.handler }

// Views are the status and stock views (nil when the API is off).
func (a *App) Views() *views.Views { return a.views }

// Run runs every component until ctx ends or one fails.
func (a *App) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, sched := range a.schedulers {
		g.Go(func() error {
			if err := sched.Run(ctx); err != nil {
				slog.Error("timers stopped", "err", err)
				return fmt.Errorf("timers: %w", err)
			}
			return nil
		})
	}
	for i, p := range a.procs {
		name := a.cfg.Processors[i]
		g.Go(func() error {
			err := streams.Run(ctx, p)
			if err != nil {
				slog.Error("processor stopped", "processor", name, "err", err)
				return fmt.Errorf("processor %s: %w", name, err)
			}
			return nil
		})
	}
	if a.views != nil {
		g.Go(func() error { return a.board.Run(ctx) }) // the board's lag samples
		g.Go(func() error {
			if err := a.views.Run(ctx); err != nil {
				slog.Error("views stopped", "err", err)
				return fmt.Errorf("views: %w", err)
			}
			return nil
		})
		srv := newHTTPServer(a.handler, ctx)
		ln := a.cfg.Listener
		if ln == nil {
			addr := a.cfg.APIAddr
			if addr == "" {
				addr = DefaultAPIAddr
			}
			var err error
			if ln, err = net.Listen("tcp", addr); err != nil {
				return fmt.Errorf("api: %w", err)
			}
		}
		slog.Info("api listening", "addr", ln.Addr().String())
		g.Go(func() error {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdown); err != nil {
				slog.Warn("api: connections still open at shutdown; closed", "err", err)
			}
			return nil
		})
	}
	if a.cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		mux := http.NewServeMux()
		a.serveDiagnostics(mux)
		msrv := newHTTPServer(mux, ctx)
		g.Go(func() error {
			if err := msrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error { <-ctx.Done(); return msrv.Close() })
	}
	err := g.Wait()
	if a.pool != nil {
		a.pool.Close()
	}
	a.meter.Close()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.tracer.Shutdown(shutdown)
	return err
}

// newHTTPServer bounds what a client can hold: headers in 10 s and 64 KiB, a whole request in
// 30 s, an answer in 75 s (a long poll waits at most 60 s), idle connections for 2 minutes.
// Requests see ctx: when the process stops, long polls end at once (answering timed out)
// instead of holding the shutdown.
func newHTTPServer(h http.Handler, ctx context.Context) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 75 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx }}
}
