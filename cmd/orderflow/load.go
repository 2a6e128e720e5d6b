package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/pipelines/loadgen"
	"github.com/orderflow/orderflow/processors/orders/outbox"
)

func newLoadCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var c loadgen.Config
	var noProgress, direct bool
	var returnsToRun int
	var schema string
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Place orders through the API with a mix that exercises every path, wait until all are terminal, print a summary",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.Token == "" {
				c.Token = os.Getenv("ORDERFLOW_API_TOKEN") // not a flag default: --help would print it
			}
			if c.Orders <= 0 {
				return fmt.Errorf("--orders must be positive")
			}
			if !noProgress {
				c.Progress = cmd.ErrOrStderr()
			}
			if direct {
				placer, closePool, err := loadgen.NewStorePlacer(cmd.Context(), *cfg, schema, c.Concurrency)
				if err != nil {
					return err
				}
				defer closePool()
				c.Placer = placer
			}
			res, err := loadgen.Run(cmd.Context(), c)
			fmt.Fprintln(cmd.OutOrStdout())
			res.Summary(cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if res.Failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d orders failed", res.Failed, res.Placed)}
			}
			if returnsToRun > 0 {
				outcomes, err := loadgen.Returns(cmd.Context(), c, returnsToRun)
				fmt.Fprintf(cmd.OutOrStdout(), "\nreturns (%d):\n", len(outcomes))
				loadgen.PrintReturns(cmd.OutOrStdout(), outcomes)
				if err != nil {
					return fmt.Errorf("returns: %w", err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.API, "api", envOr("ORDERFLOW_API_URL", "http://localhost:8080"), "API base URL (env ORDERFLOW_API_URL)")
	f.StringVar(&c.Token, "token", "", "bearer token of the API (env ORDERFLOW_API_TOKEN; it needs the operations scope)")
	f.IntVar(&c.Orders, "orders", 1000, "orders to place")
	f.Float64Var(&c.Rate, "rate", 0, "orders per second (0: as fast as --concurrency allows)")
	f.IntVar(&c.Concurrency, "concurrency", 32, "requests in flight")
	f.BoolVar(&c.Seed, "seed", true, "set the mix's stock before placing orders")
	f.DurationVar(&c.Wait, "wait", time.Minute, "how long each order may take to become terminal")
	f.BoolVar(&c.OpenLoop, "open-loop", false, "place orders without waiting for earlier ones to finish (overload the pipeline on purpose)")
	f.IntVar(&c.Waiters, "waiters", 64, "concurrent long polls waiting for placed orders (with --open-loop)")
	f.StringVar(&c.MetricsURL, "metrics-url", "", "orderflow /metrics to watch during the run for peak lag, drain time and RSS (e.g. http://localhost:8080/metrics)")
	f.BoolVar(&direct, "direct", false, "write orders and their outbox events straight into PostgreSQL instead of POSTing them (faster than the API)")
	f.StringVar(&schema, "schema", outbox.DefaultSchema, "PostgreSQL schema of the orders and outbox tables (with --direct)")
	f.IntVar(&returnsToRun, "returns", 0, "after the orders, return part of this many new orders: one in three received ok, one damaged, one never (see GET /returns/{id})")
	f.BoolVar(&noProgress, "no-progress", false, "do not draw a progress bar")
	return cmd
}
