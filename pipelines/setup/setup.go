// Package setup prepares a deployment and checks the stack it runs on.
//
// Consumes: the endpoints (PostgreSQL, Kafka, the registry, Connect) and a deployment's topology
// and schema. Keeps: nothing. Emits: the deployment's tables (orders, order lines, outbox,
// heartbeat), topics, schemas (through the compatibility gate) and its outbox connector — every
// step idempotent, in the order that works: the connector's publication lists the tables, and
// the processors need the topics and schemas.
package setup

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
	"github.com/orderflow/orderflow/schemas/gate"
)

// Timeout bounds a whole Prepare (the connector's first start included).
const Timeout = 3 * time.Minute

// Prepare runs every step for the deployment of topology t whose tables live in schema, and
// reports each step (one line each) to report.
//
// With roles (nil: everything as ep.PGDSN's user), ep.PGDSN is an administrator's: Prepare
// creates the least-privilege roles, the application role makes and owns the tables, and the
// connector logs in as the replication role (see Roles).
func Prepare(ctx context.Context, ep endpoints.Endpoints, t topology.Topology, schema string, roles *Roles, report func(string)) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	if roles != nil {
		conn, err := connectors.ForDeployment(ep, t.Prefix, schema)
		if err != nil {
			return err
		}
		publication := conn.Config["publication.name"]
		if err := LeastPrivilegeDatabase(ctx, ep, schema, publication, *roles); err != nil {
			return err
		}
		report(fmt.Sprintf("database: roles %s (owns schema %s) and %s (replication, publication %s) ready", roles.App, schema, roles.CDC, publication))
	} else if err := Database(ctx, ep, schema); err != nil {
		return err
	}
	report(fmt.Sprintf("database: tables %s.orders, %s.order_lines, %s.outbox ready", schema, schema, schema))
	if err := t.Apply(ep.Brokers); err != nil {
		return err
	}
	report(fmt.Sprintf("topics: %d ready (%d partitions each)", len(t.Topics()), t.Partitions))
	n, err := Schemas(ctx, ep)
	if err != nil {
		return err
	}
	report(fmt.Sprintf("schemas: %d registered under %s", n, gate.Level))
	conn, err := Connector(ctx, ep, t, schema, roles)
	if err != nil {
		return err
	}
	report(fmt.Sprintf("connector: %s RUNNING (%s → %s)", conn.Name, conn.Config["table.include.list"], connectors.TopicFor(conn, "<aggregatetype>")))
	return nil
}

// Database creates the order service's tables in schema (idempotent).
func Database(ctx context.Context, ep endpoints.Endpoints, schema string) error {
	return migrate(ctx, ep, ep.PGDSN, schema)
}

// LeastPrivilegeDatabase is Database for a deployment with Roles, run with an administrator's
// DSN (ep.PGDSN): it creates the roles (CreateRoles), migrates the tables as the application
// role, and grants the replication role what capture needs with publication (GrantCapture).
func LeastPrivilegeDatabase(ctx context.Context, ep endpoints.Endpoints, schema, publication string, roles Roles) error {
	admin, err := pgx.Connect(ctx, ep.PGDSN)
	if err != nil {
		return fmt.Errorf("postgres (administrator): %w", err)
	}
	defer admin.Close(context.Background())
	if err := CreateRoles(ctx, admin, schema, roles); err != nil {
		return err
	}
	appDSN, err := DSNAs(ep.PGDSN, roles.App, roles.AppPassword)
	if err != nil {
		return err
	}
	if err := migrate(ctx, ep, appDSN, schema); err != nil {
		return fmt.Errorf("as %s: %w", roles.App, err)
	}
	return GrantCapture(ctx, admin, schema, publication, roles)
}

func migrate(ctx context.Context, ep endpoints.Endpoints, dsn, schema string) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	serde, err := codec.New(codec.NewSRClient(ep.RegistryURL, codec.WithBasicAuth(ep.RegistryCredentials())))
	if err != nil {
		return err
	}
	return orders.NewStore(pool, serde, schema).Migrate(ctx)
}

// Schemas registers every shipped schema through the compatibility gate and returns how many.
func Schemas(ctx context.Context, ep endpoints.Endpoints) (int, error) {
	all, err := schemas.All()
	if err != nil {
		return 0, err
	}
	if _, err := gate.New(ep.RegistryURL, gate.WithBasicAuth(ep.RegistryCredentials())).Apply(ctx, all); err != nil {
		return 0, err
	}
	return len(all), nil
}

// Connector applies the deployment's outbox connector (connectors.ForDeployment) and waits until
// it runs. With roles it logs in as the replication role, whose password the Connect worker
// resolves from roles.CDCPasswordRef, and uses the administrator's publication.
func Connector(ctx context.Context, ep endpoints.Endpoints, t topology.Topology, schema string, roles *Roles) (connectors.Connector, error) {
	var extra []connectors.OutboxOption
	if roles != nil {
		extra = append(extra, connectors.WithSetting("database.user", roles.CDC),
			connectors.WithSetting("database.password", roles.cdcPasswordRef()),
			connectors.WithSetting("publication.autocreate.mode", "disabled"))
	}
	conn, err := connectors.ForDeployment(ep, t.Prefix, schema, extra...)
	if err != nil {
		return conn, err
	}
	return conn, connectors.NewClient(ep.ConnectURL).Apply(ctx, conn)
}

// Services are the names Probe knows.
var Services = []string{"postgres", "kafka", "connect", "registry"}

// Probe checks that service answers as a client of it needs: PostgreSQL with logical decoding,
// a Kafka broker answering metadata, Connect with the Debezium PostgreSQL plugin, the registry's
// subjects. It returns a one-line verdict.
func Probe(ctx context.Context, ep endpoints.Endpoints, service string) (string, error) {
	switch service {
	case "postgres":
		conn, err := pgx.Connect(ctx, ep.PGDSN)
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
		n, err := kafka.Probe(ctx, ep.Brokers)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("kafka: ok (%d broker(s))", n), nil
	case "connect":
		plugins, err := connectors.NewClient(ep.ConnectURL).Plugins(ctx)
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
		if _, err := gate.New(ep.RegistryURL, gate.WithBasicAuth(ep.RegistryCredentials())).Subjects(ctx); err != nil {
			return "", err
		}
		return "registry: ok", nil
	}
	return "", fmt.Errorf("unknown service %q (want one of %v)", service, Services)
}
