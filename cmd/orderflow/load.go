package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/pipelines/loadgen"
)

func newLoadCmd() *cobra.Command {
	var c loadgen.Config
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Place orders through the API with a mix that exercises every path, wait until all are terminal, print a summary",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.Orders <= 0 {
				return fmt.Errorf("--orders must be positive")
			}
			if !noProgress {
				c.Progress = cmd.ErrOrStderr()
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
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.API, "api", envOr("ORDERFLOW_API_URL", "http://localhost:8080"), "API base URL (env ORDERFLOW_API_URL)")
	f.IntVar(&c.Orders, "orders", 1000, "orders to place")
	f.Float64Var(&c.Rate, "rate", 0, "orders per second (0: as fast as --concurrency allows)")
	f.IntVar(&c.Concurrency, "concurrency", 32, "requests in flight")
	f.BoolVar(&c.Seed, "seed", true, "set the mix's stock before placing orders")
	f.DurationVar(&c.Wait, "wait", time.Minute, "how long each order may take to become terminal")
	f.BoolVar(&noProgress, "no-progress", false, "do not draw a progress bar")
	return cmd
}
