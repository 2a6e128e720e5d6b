package main

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/pii"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/orders/outbox"
)

// newKeysCmd: the master keys that wrap the customers' data keys (internal/pii).
func newKeysCmd(cfg *endpoints.Endpoints) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Master keys of the personal-data encryption (see README, Personal data)"}
	var id string
	newMaster := &cobra.Command{
		Use:   "new-master",
		Short: "Print a new master key as an entry of ORDERFLOW_MASTER_KEYS (id:base64); put it first to make it current",
		RunE: func(cmd *cobra.Command, _ []string) error {
			entry, err := pii.GenerateMasterKey(id)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), entry)
			return nil
		},
	}
	newMaster.Flags().StringVar(&id, "id", "", "the key's id (letters, digits, _ and -)")
	_ = newMaster.MarkFlagRequired("id")

	var schema, stateDir string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Re-wrap every live data key with the current master key, online; then the old master can be removed",
		RunE: func(cmd *cobra.Command, _ []string) error {
			masters, err := pii.LoadMasterKeys(stateDir)
			if err != nil {
				return err
			}
			pool, err := pgxpool.New(cmd.Context(), cfg.PGDSN)
			if err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
			defer pool.Close()
			keys := pii.NewKeystore(pool, schema, masters)
			if err := keys.Migrate(cmd.Context()); err != nil {
				return err
			}
			n, err := keys.Rotate(cmd.Context())
			fmt.Fprintf(cmd.OutOrStdout(), "re-wrapped %d data keys with master key %s\n", n, masters.Current())
			return err
		},
	}
	rotate.Flags().StringVar(&schema, "schema", outbox.DefaultSchema, "PostgreSQL schema of the orders and the customer keys")
	rotate.Flags().StringVar(&stateDir, "state-dir", envOr("ORDERFLOW_STATE_DIR", runner.DefaultStateDir()),
		"where the generated local master key lives when ORDERFLOW_MASTER_KEYS(_FILE) is not set (env ORDERFLOW_STATE_DIR)")
	cmd.AddCommand(newMaster, rotate)
	return cmd
}
