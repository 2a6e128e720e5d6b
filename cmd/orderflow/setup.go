package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
	"github.com/orderflow/orderflow/schemas/gate"
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
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Minute)
			defer cancel()
			out := cmd.OutOrStdout()

			pool, err := pgxpool.New(ctx, cfg.PGDSN)
			if err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
			defer pool.Close()
			serde, err := codec.New(codec.NewSRClient(cfg.RegistryURL))
			if err != nil {
				return err
			}
			if err := orders.NewStore(pool, serde, d.schema).Migrate(ctx); err != nil {
				return err
			}
			fmt.Fprintf(out, "database: tables %s.orders, %s.order_lines, %s.outbox ready\n", d.schema, d.schema, d.schema)

			if err := t.Apply(cfg.Brokers); err != nil {
				return err
			}
			fmt.Fprintf(out, "topics: %d ready (%d partitions each)\n", len(t.Topics()), t.Partitions)

			all, err := schemas.All()
			if err != nil {
				return err
			}
			if _, err := gate.New(cfg.RegistryURL).Apply(ctx, all); err != nil {
				return err
			}
			fmt.Fprintf(out, "schemas: %d registered under %s\n", len(all), gate.Level)

			opts := []connectors.OutboxOption{connectors.WithDatabase(cfg.PGDSN), connectors.WithDatabaseHost(cfg.ConnectPGHost),
				connectors.WithTopicPrefix(t.Prefix)}
			if d.schema != "public" {
				opts = append(opts, connectors.WithOutboxTable(d.schema), connectors.WithName(t.Prefix+"-outbox"))
			}
			conn, err := connectors.OutboxConnector(opts...)
			if err != nil {
				return err
			}
			if err := connectors.NewClient(cfg.ConnectURL).Apply(ctx, conn); err != nil {
				return err
			}
			fmt.Fprintf(out, "connector: %s RUNNING (%s → %s)\n", conn.Name, conn.Config["table.include.list"], connectors.TopicFor(conn, "<aggregatetype>"))
			return nil
		},
	}
	d.bind(cmd)
	return cmd
}
