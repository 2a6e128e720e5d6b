package connectors

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// The DSN's sslmode and sslrootcert reach Debezium (database.sslmode, database.sslrootcert), from
// a URL's query or a keyword/value DSN; a DSN without them leaves Debezium's defaults.
func TestWithDatabaseCopiesSSLMode(t *testing.T) {
	// pgx reads sslrootcert when it parses the DSN, so the file must exist (here, as on the worker)
	ca := writeCACert(t, "my ca+1.pem")
	escaped := strings.ReplaceAll(ca, " ", `\ `)
	for _, tc := range []struct {
		dsn            string
		mode, rootcert string // "" for unset
	}{
		{dsn: "postgres://u@db:5432/shop"},
		{dsn: "host=db port=5432 dbname=shop user=u"},
		{dsn: "postgres://u:pw@db:5432/shop?sslmode=require", mode: "require"},
		{dsn: "postgresql://u@db/shop?application_name=x&sslmode=verify-full&sslrootcert=" + url.PathEscape(ca),
			mode: "verify-full", rootcert: ca},
		{dsn: "host=db dbname=shop user=u sslmode=disable", mode: "disable"},
		{dsn: "host=db user=u password='a b\\'c' sslmode = 'verify-ca' sslrootcert='" + ca + "'", mode: "verify-ca", rootcert: ca},
		{dsn: "host=db user=u sslrootcert=" + escaped + " sslmode=prefer", mode: "prefer", rootcert: ca},
		{dsn: "host=db user=u sslmode=allow", mode: "allow"},
		{dsn: "postgres://u@db:5432,db2:5433/shop?sslmode=require&sslmode=verify-full", mode: "verify-full"}, // several hosts; the last wins
		{dsn: "postgres://u:p?w&sslmode=disable@db/shop?ssl=true", mode: "require"},                          // "?" in the password; ssl=true
		{dsn: "postgres://u@db/shop?ssl=true&sslmode=disable", mode: "disable"},
		{dsn: "postgres://u@db/shop?", mode: ""},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			c, err := OutboxConnector(WithDatabase(tc.dsn))
			if err != nil {
				t.Fatal(err)
			}
			if c.Config["database.hostname"] != "db" || c.Config["database.user"] != "u" {
				t.Errorf("host %q user %q, want db u", c.Config["database.hostname"], c.Config["database.user"])
			}
			for key, want := range map[string]string{"database.sslmode": tc.mode, "database.sslrootcert": tc.rootcert} {
				got, set := c.Config[key]
				if want == "" && set {
					t.Errorf("%s = %q, want it unset (Debezium's default)", key, got)
				}
				if want != "" && got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
			if pw, set := c.Config["database.password"]; set && pw != "${env:ORDERFLOW_PG_PASSWORD}" {
				t.Errorf("the DSN's password reached the connector config: %q", pw)
			}
		})
	}
}

func TestWithDatabaseRefusesAnUnknownSSLMode(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:s3cret@db/shop?sslmode=sometimes",
		"host=db user=u password=s3cret sslmode=sometimes",
	} {
		_, err := OutboxConnector(WithDatabase(dsn))
		if err == nil || !strings.Contains(err.Error(), "sslmode") {
			t.Errorf("%s: err = %v, want one naming sslmode", dsn, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

func TestKeywordValues(t *testing.T) {
	got, err := keywordValues(` host=db  sslmode = 'verify-ca'	sslrootcert='/a b/c\'d.pem' empty='' x=a\ b y=z\`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"host": "db", "sslmode": "verify-ca", "sslrootcert": "/a b/c'd.pem", "empty": "", "x": "a b", "y": "z"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"host", "host=db sslmode", "=x", "sslrootcert='/open", `x='a\`} {
		if _, err := keywordValues(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// writeCACert writes a self-signed CA certificate (PEM) named name into a temporary directory and
// returns its path.
func writeCACert(t *testing.T, name string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "orderflow test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
