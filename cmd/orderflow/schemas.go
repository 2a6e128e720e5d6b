package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/gate"
)

func newSchemasCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "schemas",
		Short: "Register the Avro event schemas behind the FULL_TRANSITIVE compatibility gate",
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "schemas",
		"directory of .avsc files (when the default is absent, the schemas built into the binary)")

	load := func(cmd *cobra.Command) ([]schemas.Schema, error) {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			if cmd.Flags().Changed("dir") {
				return nil, fmt.Errorf("--dir %s: not a directory", dir)
			}
			return schemas.All()
		}
		list, err := schemas.Load(os.DirFS(dir))
		if err == nil && len(list) == 0 {
			err = fmt.Errorf("%s holds no .avsc file", dir)
		}
		return list, err
	}
	check := &cobra.Command{
		Use:   "check",
		Short: "Check every schema against the registry without registering; exit 1 naming each refused subject",
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := load(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 6*cfg.Timeout)
			defer cancel()
			findings, err := gate.New(cfg.RegistryURL, gate.WithBasicAuth(cfg.RegistryCredentials())).Check(ctx, list)
			if err != nil {
				return err
			}
			for _, f := range findings {
				fmt.Fprintln(cmd.OutOrStdout(), f)
			}
			if len(findings) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d schema(s) refused", len(findings), len(list))}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d schema(s) compatible\n", len(list))
			return nil
		},
	}
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Set " + gate.Level + " on every subject and register every schema when all pass (idempotent)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := load(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 6*cfg.Timeout)
			defer cancel()
			ids, err := gate.New(cfg.RegistryURL, gate.WithBasicAuth(cfg.RegistryCredentials())).Apply(ctx, list)
			var refused *gate.RefusedError
			if errors.As(err, &refused) {
				for _, f := range refused.Findings {
					fmt.Fprintln(cmd.OutOrStdout(), f)
				}
				return &exitError{code: 1, err: fmt.Errorf("%d schema(s) refused; nothing registered", len(refused.Findings))}
			}
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUBJECT\tID\tRULE")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", s.Subject, ids[s.Subject], gate.Level)
			}
			return tw.Flush()
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the schemas and their subjects",
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := load(cmd)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FILE\tSUBJECT")
			for _, s := range l {
				fmt.Fprintf(tw, "%s\t%s\n", s.File, s.Subject)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(check, apply, list)
	return cmd
}
