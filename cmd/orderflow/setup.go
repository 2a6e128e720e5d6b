package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/pipelines/setup"
)

func newSetupCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var d deployment
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Prepare a deployment: database tables, topics, schemas (behind the gate) and the outbox connector; idempotent",
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := d.topology()
			if err != nil {
				return err
			}
			return setup.Prepare(cmd.Context(), *cfg, t, d.schema, func(line string) { fmt.Fprintln(cmd.OutOrStdout(), line) })
		},
	}
	d.bind(cmd)
	return cmd
}
