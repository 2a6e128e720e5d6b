package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/pipelines/setup"
)

func newSetupCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var d deployment
	var appRole, cdcRole string
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Prepare a deployment: database tables, topics, schemas (behind the gate) and the outbox connector; idempotent",
		Long: `Prepare a deployment: database tables, topics, schemas (behind the gate) and the outbox
connector; every step is idempotent.

With --app-role and --cdc-role, the DSN is an administrator's and setup also creates the
least-privilege roles: the application role owns the deployment's schema and its tables (run
orderflow with its DSN), the replication role has REPLICATION, SELECT on the outbox and the
publication setup makes, and the connector logs in as it. Their passwords come from
ORDERFLOW_PG_APP_PASSWORD and ORDERFLOW_PG_CDC_PASSWORD; the Connect worker must hold the latter
in its environment (the connector's configuration names it, never carries it).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := d.topology()
			if err != nil {
				return err
			}
			roles, err := rolesFromFlags(appRole, cdcRole)
			if err != nil {
				return err
			}
			return setup.Prepare(cmd.Context(), *cfg, t, d.schema, roles, func(line string) { fmt.Fprintln(cmd.OutOrStdout(), line) })
		},
	}
	d.bind(cmd)
	cmd.Flags().StringVar(&appRole, "app-role", os.Getenv("ORDERFLOW_PG_APP_ROLE"), "application role to create, owner of the schema (env ORDERFLOW_PG_APP_ROLE; password from ORDERFLOW_PG_APP_PASSWORD)")
	cmd.Flags().StringVar(&cdcRole, "cdc-role", os.Getenv("ORDERFLOW_PG_CDC_ROLE"), "replication role to create, the connector's login (env ORDERFLOW_PG_CDC_ROLE; password from ORDERFLOW_PG_CDC_PASSWORD)")
	return cmd
}

// rolesFromFlags returns nil when neither role is named.
func rolesFromFlags(app, cdc string) (*setup.Roles, error) {
	if app == "" && cdc == "" {
		return nil, nil
	}
	if app == "" || cdc == "" {
		return nil, errors.New("setup: --app-role and --cdc-role go together")
	}
	r := &setup.Roles{App: app, AppPassword: os.Getenv("ORDERFLOW_PG_APP_PASSWORD"),
		CDC: cdc, CDCPassword: os.Getenv("ORDERFLOW_PG_CDC_PASSWORD")}
	if r.AppPassword == "" || r.CDCPassword == "" {
		return nil, errors.New("setup: the roles' passwords come from ORDERFLOW_PG_APP_PASSWORD and ORDERFLOW_PG_CDC_PASSWORD, and one is not set")
	}
	return r, nil
}
