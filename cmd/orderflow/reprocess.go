package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/pipelines/config"
	"github.com/orderflow/orderflow/pipelines/reprocess"
	"github.com/orderflow/orderflow/pipelines/topology"
	"github.com/orderflow/orderflow/schemas/codec"
)

func newReprocessCmd(cfg *config.Config) *cobra.Command {
	var d deployment
	var processor, version, against, stateDir string
	var compare bool
	cmd := &cobra.Command{
		Use:   "reprocess",
		Short: "Rebuild a processor's table from the earliest offsets under a new consumer group (a new table version)",
		Long: `Rebuild a processor's table from the earliest offsets under a new consumer group: goka's new
group is a new table, <prefix>.<processor>.<version>-table. Shows progress with rate and remaining
lag; stops when caught up. With --compare, reports the keys whose values differ from the live
table (expected: none). Point views and the API at the new version with
'orderflow run --table-version <version>'.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			live, err := d.topology()
			if err != nil {
				return err
			}
			live.GroupSuffix = against
			stats, err := reprocess.Run(cmd.Context(), *cfg, live, processor, version, stateDir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "\n%s rebuilt into %s: %d events in %s (%.0f events/s)\n", stats.Group, stats.Table,
				stats.Events, stats.Elapsed.Round(1e6), stats.PerSecond)
			if !compare {
				return nil
			}
			if processor != topology.GroupOrderStatus {
				return fmt.Errorf("--compare supports the order-status table")
			}
			serde, err := codec.New(codec.NewSRClient(cfg.RegistryURL))
			if err != nil {
				return err
			}
			diff, err := reprocess.CompareTables(cmd.Context(), cfg.Brokers, serde, string(live.Table(processor)), stats.Table)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "compared %d keys of %s and %s: %d differ, %d only in the live table, %d only in the new one\n",
				diff.Keys, live.Table(processor), stats.Table, len(diff.Differing), len(diff.OnlyInLeft), len(diff.OnlyInRight))
			for _, k := range append(append(diff.Differing, diff.OnlyInLeft...), diff.OnlyInRight...) {
				fmt.Fprintln(out, "  ", k)
			}
			if !diff.Equal() {
				return &exitError{code: 1, err: fmt.Errorf("tables differ")}
			}
			return nil
		},
	}
	d.bind(cmd)
	cmd.Flags().StringVar(&processor, "processor", topology.GroupOrderStatus, "processor whose table to rebuild")
	cmd.Flags().StringVar(&version, "table-version", "", "name of the new table version (new consumer group), e.g. v2")
	cmd.Flags().StringVar(&against, "live-version", "", "table version in use now (default: the unversioned one)")
	cmd.Flags().BoolVar(&compare, "compare", false, "when caught up, compare with the live table")
	cmd.Flags().StringVar(&stateDir, "state-dir", filepath.Join(os.TempDir(), "orderflow-reprocess"), "local storage for the rebuild")
	_ = cmd.MarkFlagRequired("table-version")
	return cmd
}
