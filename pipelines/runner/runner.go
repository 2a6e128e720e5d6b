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
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lovoo/goka"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/pipelines/api"
	"github.com/orderflow/orderflow/pipelines/config"
	"github.com/orderflow/orderflow/pipelines/orders"
	"github.com/orderflow/orderflow/pipelines/streams"
	"github.com/orderflow/orderflow/pipelines/topology"
	"github.com/orderflow/orderflow/pipelines/views"
	"github.com/orderflow/orderflow/processors/inventory"
	"github.com/orderflow/orderflow/processors/orderstatus"
	"github.com/orderflow/orderflow/processors/payments"
	"github.com/orderflow/orderflow/processors/reservations"
	"github.com/orderflow/orderflow/processors/shipping"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Config of one orderflow process.
type Config struct {
	Endpoints  config.Config
	Topology   topology.Topology
	Schema     string   // PostgreSQL schema of the orders and outbox tables (default public)
	StateDir   string   // local table storage (default $TMPDIR/orderflow-state)
	Processors []string // processors to run; see topology.Processors()
	API        bool     // serve the HTTP API (and its views)
	APIAddr    string   // listen address of the API (default :8080); ignored when Listener is set
	Listener   net.Listener
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
	return nil
}

// App is a configured orderflow process.
type App struct {
	cfg     Config
	serde   *codec.Serde
	procs   []*goka.Processor
	views   *views.Views
	pool    *pgxpool.Pool
	handler http.Handler
}

// New builds the process's components; nothing runs until Run.
func New(ctx context.Context, cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Schema == "" {
		cfg.Schema = "public"
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(os.TempDir(), "orderflow-state")
	}
	serde, err := codec.New(codec.NewSRClient(cfg.Endpoints.RegistryURL))
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, serde: serde}
	for _, name := range cfg.Processors {
		p, err := a.processor(name)
		if err != nil {
			return nil, fmt.Errorf("processor %s: %w", name, err)
		}
		a.procs = append(a.procs, p)
	}
	if cfg.API {
		pool, err := pgxpool.New(ctx, cfg.Endpoints.PGDSN)
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		a.pool = pool
		store := orders.NewStore(pool, serde, cfg.Schema)
		if err := store.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
		a.views, err = views.New(cfg.Endpoints.Brokers, cfg.Topology, serde, cfg.StateDir)
		if err != nil {
			pool.Close()
			return nil, err
		}
		a.handler = api.New(store, a.views)
	}
	return a, nil
}

func (a *App) processor(name string) (*goka.Processor, error) {
	t := a.cfg.Topology
	poison := streams.DeadLetter(name)
	var g *goka.GroupGraph
	switch name {
	case topology.GroupPayments:
		g = payments.Group(t, a.serde, poison)
	case topology.GroupReservations:
		g = reservations.Group(t, a.serde, poison)
	case topology.GroupInventory:
		g = inventory.Group(t, a.serde, poison)
	case topology.GroupShipping:
		g = shipping.Group(t, a.serde, poison)
	case topology.GroupOrderStatus:
		g = orderstatus.Group(t, a.serde, poison)
	}
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
		g.Go(func() error {
			if err := a.views.Run(ctx); err != nil {
				slog.Error("views stopped", "err", err)
				return fmt.Errorf("views: %w", err)
			}
			return nil
		})
		srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
		ln := a.cfg.Listener
		if ln == nil {
			addr := a.cfg.APIAddr
			if addr == "" {
				addr = ":8080"
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
			return srv.Shutdown(shutdown)
		})
	}
	err := g.Wait()
	if a.pool != nil {
		a.pool.Close()
	}
	return err
}
