package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
)

func newTopicsCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var d deployment
	cmd := &cobra.Command{Use: "topics", Short: "Manage the deployment's Kafka topics"}
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Create every topic (co-partitioned streams, compacted tables); idempotent",
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := d.topology()
			if err != nil {
				return err
			}
			if err := t.Apply(cfg.Brokers); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tCOMPACTED")
			for _, tp := range t.Topics() {
				fmt.Fprintf(tw, "%s\t%d\t%v\n", tp.Name, tp.Partitions, tp.Compacted)
			}
			return tw.Flush()
		},
	}
	d.bind(apply)
	cmd.AddCommand(apply)
	return cmd
}
