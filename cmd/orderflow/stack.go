package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
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
		ValidArgs: []string{"postgres", "kafka", "connect", "registry"},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), cfg.Timeout)
			defer cancel()
			msg, err := probeService(ctx, cfg, args[0])
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

func probeService(ctx context.Context, cfg *endpoints.Endpoints, service string) (string, error) {
	switch service {
	case "postgres":
		conn, err := pgx.Connect(ctx, cfg.PGDSN)
		if err != nil {
			return "", fmt.Errorf("postgres: %w", err)
		}
		defer conn.Close(ctx)
		var walLevel string
		if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel); err != nil {
			return "", fmt.Errorf("postgres: %w", err)
		}
		if walLevel != "logical" {
			return "", fmt.Errorf("postgres: wal_level is %q, Debezium needs logical", walLevel)
		}
		return "postgres: ok (wal_level=logical)", nil
	case "kafka":
		n, err := kafka.Probe(ctx, cfg.Brokers)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("kafka: ok (%d broker(s))", n), nil
	case "connect":
		plugins, err := connectors.NewClient(cfg.ConnectURL).Plugins(ctx)
		if err != nil {
			return "", err
		}
		for _, p := range plugins {
			if p.Class == connectors.PostgresConnectorClass {
				return "connect: ok (Debezium PostgreSQL connector " + p.Version + ")", nil
			}
		}
		return "", fmt.Errorf("connect: %s is not among the installed plugins", connectors.PostgresConnectorClass)
	case "registry":
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.RegistryURL+"/subjects", nil)
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Do(req)
		if err != nil {
			return "", fmt.Errorf("registry: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("registry: GET /subjects answered %s", resp.Status)
		}
		return "registry: ok", nil
	default:
		return "", fmt.Errorf("unknown service %q (want one of postgres, kafka, connect, registry)", strings.TrimSpace(service))
	}
}
