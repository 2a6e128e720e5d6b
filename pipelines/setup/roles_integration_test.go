//go:build integration

package setup_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/setup"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Least privilege end to end: the application role migrates its schema and places an order, the
// replication role alone is enough for Debezium to capture it (slot, publication made by the
// administrator, heartbeats), and neither role can do more than that.
func TestIntegrationReplicationRoleSufficesForDebezium(t *testing.T) {
	cfg := itest.Stack(t)
	admin := itest.PG(t, cfg)
	ctx := itest.Context(t, 4*time.Minute)
	suffix := itest.Suffix()
	schema, publication := "lp_"+suffix, "lp_"+suffix+"_outbox"
	roles := setup.Roles{App: "lp_app_" + suffix, AppPassword: password(), CDC: "lp_cdc_" + suffix, CDCPassword: password()}
	t.Cleanup(func() { // after the connector, its slot and its publication are gone
		bg := context.Background()
		admin.Exec(bg, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
		for _, role := range []string{roles.App, roles.CDC} {
			admin.Exec(bg, `DROP OWNED BY `+role)
			admin.Exec(bg, `DROP ROLE IF EXISTS `+role)
		}
	})
	if err := setup.CreateRoles(ctx, admin, schema, roles); err != nil {
		t.Fatal(err)
	}
	if err := setup.CreateRoles(ctx, admin, schema, roles); err != nil {
		t.Fatalf("CreateRoles is not idempotent: %v", err)
	}

	appDSN, _ := setup.DSNAs(cfg.PGDSN, roles.App, roles.AppPassword)
	app, err := pgxpool.New(ctx, appDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	serde, err := codec.New(codec.NewSRClient(cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	store := orders.NewStore(app, serde, schema)
	if err := store.Migrate(ctx); err != nil {
		t.Fatalf("the application role migrates its own schema: %v", err)
	}
	if err := setup.GrantCapture(ctx, admin, schema, publication, roles); err != nil {
		t.Fatal(err)
	}

	// What neither role may do.
	cdcDSN, _ := setup.DSNAs(cfg.PGDSN, roles.CDC, roles.CDCPassword)
	cdc, err := pgx.Connect(ctx, cdcDSN)
	if err != nil {
		t.Fatalf("the replication role logs in: %v", err)
	}
	defer cdc.Close(context.Background())
	refused := map[string]error{}
	_, refused["application role creates a table in public"] = app.Exec(ctx, `CREATE TABLE public.lp_`+suffix+` (id int)`)
	_, refused["application role creates a schema"] = app.Exec(ctx, `CREATE SCHEMA lp_other_`+suffix)
	_, refused["application role creates a role"] = app.Exec(ctx, `CREATE ROLE lp_evil_`+suffix)
	_, refused["application role reads the replication slots' WAL"] = app.Exec(ctx, `SELECT pg_create_logical_replication_slot('lp_evil_`+suffix+`', 'pgoutput')`)
	_, refused["replication role reads the orders"] = cdc.Exec(ctx, `SELECT * FROM `+schema+`.orders`)
	_, refused["replication role writes an outbox row"] = cdc.Exec(ctx, `INSERT INTO `+schema+`.outbox (id, aggregatetype, aggregateid, type, payload)
		VALUES (gen_random_uuid(), 'x', 'x', 'x', '\x00')`)
	for what, err := range refused {
		if err == nil || !strings.Contains(err.Error(), "42501") { // insufficient_privilege
			t.Errorf("%s: err = %v, want permission denied", what, err)
		}
	}

	// Debezium as the replication role, its password handed over as a file reference.
	prefix := "lp" + suffix
	topic := prefix + "." + topology.AggregateOrder + ".events"
	itest.Topics(t, cfg, kafka.Topic{Name: topic, Partitions: 1})
	conn := itest.OutboxConnector(t, cfg, admin, schema,
		connectors.WithDatabase(cdcDSN),
		connectors.WithSetting("database.password", itest.ConnectSecret(t, roles.CDC, roles.CDCPassword)),
		connectors.WithSetting("publication.name", publication),
		connectors.WithSetting("publication.autocreate.mode", "disabled"),
		connectors.WithSetting("slot.drop.on.stop", "true"),
		connectors.WithTopicPrefix(prefix))
	if shown := connectorConfig(t, cfg.ConnectURL, conn.Name); strings.Contains(shown, roles.CDCPassword) || !strings.Contains(shown, "${dir:") {
		t.Errorf("the connector's configuration, as Connect's REST API shows it, must carry the reference, not the password: %s", shown)
	}

	placed, err := store.Place(ctx, orders.NewOrder{CustomerID: "c-lp", Currency: "EUR",
		Items: []orders.Item{{SKU: "LP", Quantity: 1, UnitPriceMinor: 100}}}, "", "")
	if err != nil {
		t.Fatalf("the application role places an order: %v", err)
	}
	err = itest.ConsumeUntil(itest.Context(t, time.Minute), cfg, topic, func(m *sarama.ConsumerMessage) bool {
		return string(m.Key) == placed.OrderID && itest.Header(m, "eventType") == "OrderPlaced"
	})
	if err != nil {
		t.Fatalf("OrderPlaced %s never reached %s through the replication role: %v", placed.OrderID, topic, err)
	}
}

func password() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func connectorConfig(t *testing.T, connectURL, name string) string {
	resp, err := http.Get(connectURL + "/connectors/" + name + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
