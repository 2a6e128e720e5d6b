package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/pipelines/setup"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders/outbox"
)

func newConnectorsCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "Manage the Debezium outbox connector in Kafka Connect",
	}
	cmd.PersistentFlags().StringVarP(&file, "file", "f", "",
		"connector file to use instead of the built-in connectors/outbox.json")

	load := func() (connectors.Connector, error) {
		if file == "" {
			return connectors.ForDeployment(*cfg, topology.DefaultPrefix, outbox.DefaultSchema)
		}
		f, err := os.Open(file)
		if err != nil {
			return connectors.Connector{}, err
		}
		defer f.Close()
		return connectors.Load(f)
	}
	client := func() *connectors.Client { return connectors.NewClient(cfg.ConnectURL) }

	apply := &cobra.Command{
		Use:   "apply",
		Short: "Validate, create or update the connector and wait until it runs (idempotent)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := load()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), setup.Timeout)
			defer cancel()
			if err := client().Apply(ctx, conn); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "connector %s is RUNNING\n", conn.Name)
			return nil
		},
	}
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check the connector config locally and with Connect's validate endpoint",
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := load()
			if err != nil {
				return err
			}
			if err := client().Validate(cmd.Context(), conn); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "connector %s: configuration is valid\n", conn.Name)
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Print the state of every connector and its tasks",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := client()
			names, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CONNECTOR\tSTATE\tTASKS\tWORKER")
			for _, n := range names {
				s, err := c.Status(cmd.Context(), n)
				if err != nil {
					return err
				}
				tasks := ""
				for _, t := range s.Tasks {
					tasks += fmt.Sprintf("%d:%s ", t.ID, t.State.State)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, s.Connector.State, tasks, s.Connector.WorkerID)
			}
			return tw.Flush()
		},
	}
	nameOf := func() (string, error) {
		conn, err := load()
		return conn.Name, err
	}
	restart := &cobra.Command{
		Use:   "restart",
		Short: "Restart the connector and its tasks",
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, err := nameOf()
			if err != nil {
				return err
			}
			return client().Restart(cmd.Context(), name)
		},
	}
	del := &cobra.Command{
		Use:   "delete",
		Short: "Delete the connector (its replication slot stays in PostgreSQL)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, err := nameOf()
			if err != nil {
				return err
			}
			return client().Delete(cmd.Context(), name)
		},
	}
	cmd.AddCommand(apply, validate, status, restart, del)
	return cmd
}
