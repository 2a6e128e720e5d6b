package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/cmd/internal/cli"
	"github.com/orderflow/orderflow/cmd/orderflow-bench/internal/bench"
	"github.com/orderflow/orderflow/internal/endpoints"
)

func newBenchCmd(cfg *endpoints.Endpoints) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks on the running stack, each against a baseline measured in the same run (results as JSON; `orderflow-bench report` writes BENCHMARKS.md)",
	}
	var out, cpuProfile, memProfile, orderflowBin string
	cmd.PersistentFlags().StringVar(&out, "out", "cmd/orderflow-bench/results", "directory of the JSON results and plots")
	cmd.PersistentFlags().StringVar(&orderflowBin, "orderflow", defaultOrderflow(), "the orderflow binary that runs the processors (env ORDERFLOW_BIN)")
	cmd.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the harness and in-process consumers, e.g. the reprocessing join) to this file")
	cmd.PersistentFlags().StringVar(&memProfile, "memprofile", "", "write this process's allocation profile (go tool pprof -sample_index=alloc_space) to this file at the end")
	cmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := cfg.Validate(); err != nil {
			return err
		}
		if err := cli.ConfigureKafka(); err != nil {
			return err
		}
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		return pprof.StartCPUProfile(f)
	}
	cmd.PersistentPostRunE = func(*cobra.Command, []string) error {
		if cpuProfile != "" {
			pprof.StopCPUProfile()
		}
		if memProfile == "" {
			return nil
		}
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.Lookup("allocs").WriteTo(f, 0)
	}

	var bc bench.BacklogConfig
	backlog := &cobra.Command{
		Use:   "backlog",
		Short: "Reprocess rate of the order-status join over a synthetic backlog (vs a pass-through and a no-op consumer group) and restore time of the rebuilt table (vs a raw read)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			bc.Endpoints, bc.Log = *cfg, cmd.ErrOrStderr()
			if err := bench.WriteSettings(out, bench.Settings(cmd.Context(), *cfg)); err != nil {
				return err
			}
			res, err := bench.Backlog(cmd.Context(), bc)
			if err != nil {
				return err
			}
			return writeResult(cmd, out, "backlog.json", res)
		},
	}
	backlog.Flags().IntVar(&bc.Orders, "orders", 25000, "orders in the synthetic backlog (≈4 input events each; 250000 for the 1M-event report)")
	backlog.Flags().IntVar(&bc.Runs, "runs", 3, "measured runs of each metric")
	backlog.Flags().IntVar(&bc.RestoreKeys, "restore-keys", 1_000_000, "keys of the synthetic order-status table restored into an empty view (0: skip)")
	backlog.Flags().StringVar(&bc.StateDir, "state-dir", "", "local table storage (default: a temporary directory)")
	cmd.AddCommand(backlog)

	var pc bench.PipelineConfig
	pipeline := &cobra.Command{
		Use: "pipeline",
		Short: "Maximum sustainable order rate (vs Debezium-only capture), freshness at 50% of it and at a fixed rate (vs the CDC floor), " +
			"view reads while ingesting (vs idle), CPU per 1000 orders per component; a private deployment per run",
		RunE: func(cmd *cobra.Command, _ []string) error {
			pc.Endpoints, pc.Log, pc.OutDir, pc.Binary = *cfg, cmd.ErrOrStderr(), out, orderflowBin
			if err := bench.WriteSettings(out, bench.Settings(cmd.Context(), *cfg)); err != nil {
				return err
			}
			res, err := bench.Pipeline(cmd.Context(), pc)
			if err != nil {
				return err
			}
			return writeResult(cmd, out, "pipeline.json", res)
		},
	}
	f := pipeline.Flags()
	f.DurationVar(&pc.Step, "step", 45*time.Second, "length of each rate step")
	f.IntVar(&pc.Runs, "runs", 3, "runs (each on a fresh deployment)")
	f.Float64Var(&pc.StartRate, "start-rate", 40, "first rate of the throughput search (orders/s)")
	f.Float64Var(&pc.FixedRate, "fixed-rate", 1000, "rate of the fixed-rate freshness step (orders/s)")
	f.DurationVar(&pc.FixedStep, "fixed-step", 10*time.Second, "length of the fixed-rate step")
	f.IntVar(&pc.CaptureOrders, "capture-orders", 5000, "orders of the Debezium-only measurement")
	cmd.AddCommand(pipeline)

	var sc bench.SoakConfig
	soak := &cobra.Command{
		Use: "soak",
		Short: "One long-running deployment at a steady rate (default 80% of the maximum in pipeline.json) for 20 minutes, " +
			"measured minute by minute: rate, freshness and CPU per order from the first window to the last",
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc.Endpoints, sc.Log, sc.OutDir, sc.Binary = *cfg, cmd.ErrOrStderr(), out, orderflowBin
			res, err := bench.Soak(cmd.Context(), sc)
			if err != nil {
				return err
			}
			return writeResult(cmd, out, "soak.json", res)
		},
	}
	soak.Flags().Float64Var(&sc.Rate, "rate", 0, "orders/s (0: --fraction of the maximum sustainable rate in pipeline.json)")
	soak.Flags().Float64Var(&sc.Fraction, "fraction", 0.8, "fraction of the maximum sustainable rate")
	soak.Flags().DurationVar(&sc.Duration, "duration", 20*time.Minute, "length of the soak")
	soak.Flags().DurationVar(&sc.Window, "window", time.Minute, "length of each measured window")
	cmd.AddCommand(soak)

	var rc bench.ReportConfig
	report := &cobra.Command{
		Use:   "report",
		Short: "Write BENCHMARKS.md and its PNG plots from the JSON results",
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc.ResultsDir = out
			if err := bench.Report(rc); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "report written to %s\n", rc.Output)
			return nil
		},
	}
	report.Flags().StringVar(&rc.Output, "output", "BENCHMARKS.md", "report file")
	report.Flags().StringVar(&rc.Command, "command", "make bench", "the command that produced the results, as printed in the report")
	cmd.AddCommand(report)
	return cmd
}

// writeResult writes v as indented JSON to dir/name and says where.
func writeResult(cmd *cobra.Command, dir, name string, v any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "results written to %s\n", path)
	return nil
}
