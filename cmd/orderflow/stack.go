package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/pipelines/setup"
)

func newStackCmd(cfg *endpoints.Endpoints) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Check the local stack (start and stop it with make up / make down)",
	}
	probe := &cobra.Command{
		Use:       "probe postgres|kafka|connect|registry",
		Short:     "Exit 0 when the named service answers like a client needs it to",
		Args:      cobra.ExactArgs(1),
		ValidArgs: setup.Services,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), cfg.Timeout)
			defer cancel()
			msg, err := setup.Probe(ctx, *cfg, args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	cmd.AddCommand(probe)
	return cmd
}
