package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/pipelines/reprocess"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

func newReprocessCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var d deployment
	var processor, version, stateDir string
	var compare bool
	cmd := &cobra.Command{
		Use:   "reprocess",
		Short: "Rebuild a processor's table from the earliest offsets into a new table version; compare, switch, drop",
		Long: `Rebuild a processor's table from the earliest offsets under a new consumer group: a new table
version, <prefix>.<processor>.<version>-table. The rebuild reads the live input topics and writes
its emits and dead letters to topics private to the version (<topic>.<processor>.<version>): it
never writes to a live topic or table. Shows progress with rate and remaining lag; stops when
caught up. With --compare, reports the keys whose values differ from the serving table.

The life of a version (blue/green):
  orderflow reprocess --processor P --table-version v2     rebuild (after a bug fix)
  orderflow reprocess compare --processor P --table-version v2
  orderflow reprocess switch --processor P --table-version v2
      instances started from then on run and serve v2; stop the old ones
  orderflow reprocess drop --processor P --table-version unversioned
      delete the old version's group, table and private topics
  orderflow reprocess versions                             what exists, what serves`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			live, err := liveTopology(cmd, cfg, &d)
			if err != nil {
				return err
			}
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
			return runCompare(cmd, cfg, live, processor, version, out)
		},
	}
	d.bind(cmd)
	versionFlags(cmd, &processor, &version)
	cmd.Flags().BoolVar(&compare, "compare", false, "when caught up, compare with the serving table")
	cmd.Flags().StringVar(&stateDir, "state-dir", defaultReprocessDir(), "local storage for the rebuild")
	cmd.AddCommand(newCompareCmd(cfg), newSwitchCmd(cfg), newDropCmd(cfg), newVersionsCmd(cfg))
	return cmd
}

func defaultReprocessDir() string { return filepath.Join(os.TempDir(), "orderflow-reprocess") }

func versionFlags(cmd *cobra.Command, processor, version *string) {
	cmd.Flags().StringVar(processor, "processor", topology.GroupOrderStatus,
		fmt.Sprintf("processor whose table version to act on (%s)", strings.Join(topology.Processors(), ", ")))
	cmd.Flags().StringVar(version, "table-version", "", "table version, e.g. v2 ('"+topology.Unversioned+"' for the original one)")
	_ = cmd.MarkFlagRequired("table-version")
}

// liveTopology is the deployment's topology with the serving table versions.
func liveTopology(cmd *cobra.Command, cfg *endpoints.Endpoints, d *deployment) (topology.Topology, error) {
	t, err := d.topology()
	if err != nil {
		return t, err
	}
	t.Versions, err = topology.LoadVersions(cmd.Context(), cfg.Brokers, t)
	return t, err
}

func runCompare(cmd *cobra.Command, cfg *endpoints.Endpoints, live topology.Topology, processor, version string, out io.Writer) error {
	diff, err := reprocess.Compare(cmd.Context(), *cfg, live, processor, version)
	if err != nil {
		return err
	}
	other := live.WithVersion(processor, version)
	fmt.Fprintf(out, "compared %d keys of %s and %s: %d differ, %d only in the serving table, %d only in the other\n",
		diff.Keys, live.Table(processor), other.Table(processor), len(diff.Differing), len(diff.OnlyInLeft), len(diff.OnlyInRight))
	for _, k := range append(append(diff.Differing, diff.OnlyInLeft...), diff.OnlyInRight...) {
		fmt.Fprintln(out, "  ", k)
	}
	if !diff.Equal() {
		return &exitError{code: 1, err: fmt.Errorf("tables differ")}
	}
	return nil
}

func newCompareCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var d deployment
	var processor, version string
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Compare a table version with the serving one (exit 1 when they differ)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			live, err := liveTopology(cmd, cfg, &d)
			if err != nil {
				return err
			}
			return runCompare(cmd, cfg, live, processor, reprocess.ParseVersion(version), cmd.OutOrStdout())
		},
	}
	d.bind(cmd)
	versionFlags(cmd, &processor, &version)
	return cmd
}

func newSwitchCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var d deployment
	var processor, version string
	cmd := &cobra.Command{
		Use:   "switch",
		Short: "Make a table version the serving one: instances started from then on run and serve it",
		RunE: func(cmd *cobra.Command, _ []string) error {
			live, err := liveTopology(cmd, cfg, &d)
			if err != nil {
				return err
			}
			v := reprocess.ParseVersion(version)
			if err := reprocess.Switch(cmd.Context(), *cfg, live, processor, v); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s now serves table version %s: start instances (orderflow run), then stop the old ones\n",
				processor, version)
			return nil
		},
	}
	d.bind(cmd)
	versionFlags(cmd, &processor, &version)
	return cmd
}

func newDropCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var d deployment
	var processor, version, stateDir string
	cmd := &cobra.Command{
		Use:   "drop",
		Short: "Delete a table version that does not serve: its group, table and private topics",
		RunE: func(cmd *cobra.Command, _ []string) error {
			live, err := liveTopology(cmd, cfg, &d)
			if err != nil {
				return err
			}
			dropped, err := reprocess.Drop(cmd.Context(), *cfg, live, processor, reprocess.ParseVersion(version), stateDir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dropped group %s and topics %s\n", dropped.Group, strings.Join(dropped.Topics, ", "))
			return nil
		},
	}
	d.bind(cmd)
	versionFlags(cmd, &processor, &version)
	cmd.Flags().StringVar(&stateDir, "state-dir", defaultReprocessDir(), "local storage of the rebuild to delete as well")
	return cmd
}

func newVersionsCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var d deployment
	cmd := &cobra.Command{
		Use:   "versions",
		Short: "List each processor's table versions and the serving one",
		RunE: func(cmd *cobra.Command, _ []string) error {
			live, err := liveTopology(cmd, cfg, &d)
			if err != nil {
				return err
			}
			infos, err := reprocess.Versions(cmd.Context(), *cfg, live)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, info := range infos {
				var vs []string
				for _, v := range info.Versions {
					name := v
					if name == "" {
						name = topology.Unversioned
					}
					if v == info.Serving {
						name += " (serving)"
					}
					vs = append(vs, name)
				}
				fmt.Fprintf(out, "%-13s %s\n", info.Processor, strings.Join(vs, ", "))
			}
			return nil
		},
	}
	d.bind(cmd)
	return cmd
}
