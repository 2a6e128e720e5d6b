package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/lag"
	apiserver "github.com/orderflow/orderflow/pipelines/api"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders/outbox"
)

// deployment flags shared by run, api, topics and setup.
type deployment struct {
	prefix     string
	partitions int32
	schema     string
}

func (d *deployment) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&d.prefix, "prefix", envOr("ORDERFLOW_PREFIX", topology.DefaultPrefix), "topic and group prefix of the deployment (env ORDERFLOW_PREFIX)")
	cmd.Flags().Int32Var(&d.partitions, "partitions", topology.DefaultPartitions, "partitions of every co-partitioned topic")
	cmd.Flags().StringVar(&d.schema, "schema", outbox.DefaultSchema, "PostgreSQL schema of the orders and outbox tables")
}

func (d *deployment) topology() (topology.Topology, error) {
	t, err := topology.New(d.prefix)
	t.Partitions = d.partitions
	return t, err
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newRunCmd(cfg *endpoints.Endpoints, name, short string, defaultProcessors string, defaultAPI bool) *cobra.Command {
	var d deployment
	var processors, addr, stateDir, metricsAddr string
	var slo time.Duration
	var api, profiling bool
	var rateLimit float64
	var rateBurst, maxLongPolls int
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := d.topology()
			if err != nil {
				return err
			}
			runner.TuneGC()
			authn, err := auth.FromEnv().Build()
			if err != nil {
				return err
			}
			app, err := runner.New(cmd.Context(), runner.Config{Endpoints: *cfg, Topology: t, Schema: d.schema,
				StateDir: stateDir, Processors: runner.ParseProcessors(processors), API: api, APIAddr: addr, MetricsAddr: metricsAddr, LagSLO: slo,
				Profiling: profiling, Auth: authn, RatePerSecond: rateLimit, RateBurst: rateBurst,
				MaxLongPolls: maxLongPolls})
			if err != nil {
				return err
			}
			return app.Run(cmd.Context())
		},
	}
	d.bind(cmd)
	cmd.Flags().StringVar(&processors, "processors", defaultProcessors,
		fmt.Sprintf("processors to run: all, none, or a comma list of %v", topology.Processors()))
	cmd.Flags().BoolVar(&api, "api", defaultAPI, "serve the HTTP API and its views")
	cmd.Flags().StringVar(&addr, "addr", envOr("ORDERFLOW_API_ADDR", runner.DefaultAPIAddr), "API listen address (env ORDERFLOW_API_ADDR)")
	cmd.Flags().StringVar(&stateDir, "state-dir", envOr("ORDERFLOW_STATE_DIR", runner.DefaultStateDir()),
		"local storage of tables and views (env ORDERFLOW_STATE_DIR); give each instance its own")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve /metrics on this address too (the API serves it at /metrics)")
	cmd.Flags().DurationVar(&slo, "lag-slo", lag.DefaultSLO, "lag SLO behind the orderflow_lag_slo_breached metric")
	cmd.Flags().Float64Var(&rateLimit, "rate-limit", apiserver.DefaultRate, "API requests per second per caller (with authentication)")
	cmd.Flags().IntVar(&rateBurst, "rate-burst", apiserver.DefaultBurst, "API requests a caller may burst above --rate-limit")
	cmd.Flags().IntVar(&maxLongPolls, "max-long-polls", apiserver.DefaultMaxLongPolls,
		"API requests that may wait on an order's status (wait_for) at once; more answer 503 with Retry-After")
	cmd.Flags().BoolVar(&profiling, "pprof", os.Getenv("ORDERFLOW_PPROF") == "1", "serve Go profiles at /debug/pprof/ next to /metrics (env ORDERFLOW_PPROF=1)")
	return cmd
}
