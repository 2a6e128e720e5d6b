package connectors

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShippedOutboxConnectorIsValid(t *testing.T) {
	c, err := OutboxConnector()
	if err != nil {
		t.Fatalf("the shipped outbox.json is rejected: %v", err)
	}
	for k, want := range map[string]string{
		"connector.class":                  PostgresConnectorClass,
		"snapshot.mode":                    "no_data",
		"value.converter":                  "io.debezium.converters.BinaryDataConverter",
		"key.converter":                    "org.apache.kafka.connect.storage.StringConverter",
		"transforms.outbox.route.by.field": "aggregatetype",
	} {
		if c.Config[k] != want {
			t.Errorf("%s = %q, want %q", k, c.Config[k], want)
		}
	}
}

func TestLoadRejectsBadFixtures(t *testing.T) {
	want := map[string]string{ // fixture → text the error must contain
		"decoderbufs.json":                   "plugin.name",
		"all-tables.json":                    "publication.autocreate.mode",
		"plaintext-password.json":            "database.password",
		"no-router.json":                     "transforms.outbox.type",
		"no-class.json":                      "connector.class",
		"unknown-field.json":                 "configs",
		"no-heartbeat.json":                  "heartbeat.interval.ms must be > 0",
		"heartbeat-outside-publication.json": "writes public.outbox_heartbeat, which table.include.list must list",
		"heartbeat-not-filtered.json":        "orderflow.public.outbox_heartbeat (the heartbeat table's changes) must be dropped",
		"heartbeats-dropped.json":            "__debezium-heartbeat.orderflow (Debezium's heartbeats) must reach Kafka",
	}
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) != len(want) {
		t.Fatalf("testdata has %d fixtures, the test knows %d", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			_, err = Load(r)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), want[filepath.Base(f)]) {
				t.Errorf("error %q does not name %q", err, want[filepath.Base(f)])
			}
		})
	}
}

func TestWithOutboxTableGivesPrivateSlotAndPublication(t *testing.T) {
	c, err := OutboxConnector(WithOutboxTable("capture_1"), WithDatabase("postgres://u@db.example:6543/shop"))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(c.Config["table.include.list"], " ", c.Config["slot.name"], " ",
		c.Config["publication.name"], " ", c.Config["database.hostname"], ":", c.Config["database.port"],
		"/", c.Config["database.dbname"], " ", c.Config["database.user"])
	if want := "capture_1.outbox,capture_1.outbox_heartbeat capture_1_outbox capture_1_outbox db.example:6543/shop u"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if c.Config["database.password"] != "${env:ORDERFLOW_PG_PASSWORD}" {
		t.Error("the DSN's password must not be copied into the connector config")
	}
	if _, err := OutboxConnector(WithOutboxTable(`x"; drop`)); err == nil {
		t.Error("a schema name with quotes must be refused")
	}
}

// The heartbeat follows the deployment's schema: the action query writes the schema's heartbeat
// table, which the publication carries and a filter drops before the router.
func TestHeartbeatFollowsTheOutboxSchema(t *testing.T) {
	shipped, err := OutboxConnector()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := shipped.Config["heartbeat.action.query"], heartbeatQuery("public"); got != want {
		t.Errorf("outbox.json heartbeat.action.query = %q, want %q", got, want)
	}
	c, err := OutboxConnector(WithOutboxTable("capture_1"))
	if err != nil {
		t.Fatalf("templated connector rejected: %v", err)
	}
	if q := c.Config["heartbeat.action.query"]; !strings.HasPrefix(q, "INSERT INTO capture_1.outbox_heartbeat ") {
		t.Errorf("heartbeat.action.query = %q, want it to write capture_1.outbox_heartbeat", q)
	}
	if !dropsTopic(c, "capture_1.capture_1.outbox_heartbeat") {
		t.Error("the heartbeat table's changes reach the outbox router")
	}
	for _, topic := range []string{"capture_1.capture_1.outbox", "orderflow.order.events", "__debezium-heartbeat.capture_1"} {
		if dropsTopic(c, topic) {
			t.Errorf("records of %s are dropped", topic)
		}
	}
	if got := HeartbeatTopic(c); got != "__debezium-heartbeat.capture_1" || !createsTopic(c, got) {
		t.Errorf("heartbeat topic %s (created by the connector: %v), want __debezium-heartbeat.capture_1, created", got, createsTopic(c, got))
	}
	if createsTopic(c, "orderflow.order.events") {
		t.Error("the connector may create event topics; only the topology creates them")
	}
}

func ExampleTopicFor() {
	c, _ := OutboxConnector()
	fmt.Println(TopicFor(c, "order"))
	// Output: orderflow.order.events
}
