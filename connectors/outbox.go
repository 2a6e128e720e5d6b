package connectors

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// PostgresConnectorClass is Debezium's PostgreSQL source connector.
const PostgresConnectorClass = "io.debezium.connector.postgresql.PostgresConnector"

//go:embed outbox.json
var outboxJSON []byte

// Connector is a named connector configuration, as Connect's REST API takes it.
type Connector struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
}

// Load parses a connector file ({"name": …, "config": {…}}) and checks it locally: unknown
// top-level fields, a missing name or class, and the Debezium settings whose defaults are wrong
// for an outbox (see CheckOutbox) are rejected with a message naming the setting.
func Load(r io.Reader) (Connector, error) {
	var c Connector
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Connector{}, fmt.Errorf("parse connector file: %w", err)
	}
	if c.Name == "" {
		return Connector{}, fmt.Errorf("connector file: \"name\" is required")
	}
	if c.Config["connector.class"] == "" {
		return Connector{}, fmt.Errorf("connector %s: config \"connector.class\" is required", c.Name)
	}
	if c.Config["connector.class"] == PostgresConnectorClass {
		if err := CheckOutbox(c); err != nil {
			return Connector{}, err
		}
	}
	return c, nil
}

// CheckOutbox rejects the Debezium defaults that bite an outbox connector: the decoderbufs plugin,
// a publication of all tables (needs superuser, captures everything), a missing outbox router,
// and a password written into the file instead of taken from the worker's environment.
func CheckOutbox(c Connector) error {
	var problems []string
	want := map[string]string{
		"plugin.name":                 "pgoutput",
		"publication.autocreate.mode": "filtered",
		"transforms.outbox.type":      "io.debezium.transforms.outbox.EventRouter",
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got := c.Config[k]; got != want[k] {
			problems = append(problems, fmt.Sprintf("%s must be %q, not %q", k, want[k], got))
		}
	}
	if c.Config["table.include.list"] == "" {
		problems = append(problems, "table.include.list must name the outbox table")
	}
	if pw := c.Config["database.password"]; pw != "" && !strings.HasPrefix(pw, "${") {
		problems = append(problems, "database.password must come from a config provider such as ${env:ORDERFLOW_PG_PASSWORD}, not be written in the file")
	}
	if len(problems) > 0 {
		return &InvalidConfigError{Connector: c.Name, Problems: problems}
	}
	return nil
}

// OutboxOption adjusts the outbox connector built by OutboxConnector.
type OutboxOption func(*Connector) error

// WithName names the connector (default "orderflow-outbox").
func WithName(name string) OutboxOption {
	return func(c *Connector) error { c.Name = name; return nil }
}

// WithDatabase points the connector at the database of a pgx DSN (host, port, database, user).
// The password is not copied: the Connect worker reads it from ORDERFLOW_PG_PASSWORD.
func WithDatabase(dsn string) OutboxOption {
	return func(c *Connector) error {
		pc, err := pgx.ParseConfig(dsn)
		if err != nil {
			return fmt.Errorf("outbox connector: parse database DSN: %w", err)
		}
		c.Config["database.hostname"] = pc.Host
		c.Config["database.port"] = strconv.Itoa(int(pc.Port))
		c.Config["database.dbname"] = pc.Database
		c.Config["database.user"] = pc.User
		return nil
	}
}

// WithDatabaseHost overrides the host (and port, when given as host:port) at which the Connect
// worker reaches PostgreSQL; empty leaves the DSN's.
func WithDatabaseHost(hostport string) OutboxOption {
	return func(c *Connector) error {
		if hostport == "" {
			return nil
		}
		host, port, found := strings.Cut(hostport, ":")
		c.Config["database.hostname"] = host
		if found {
			if _, err := strconv.Atoi(port); err != nil {
				return fmt.Errorf("outbox connector: database host %q: port is not a number", hostport)
			}
			c.Config["database.port"] = port
		}
		return nil
	}
}

// WithOutboxTable captures schema.outbox instead of public.outbox, with a replication slot and a
// publication of its own (so several connectors, e.g. one per test, never share them).
func WithOutboxTable(schema string) OutboxOption {
	return func(c *Connector) error {
		if schema == "" || strings.ContainsAny(schema, ". \"") {
			return fmt.Errorf("outbox connector: invalid schema name %q", schema)
		}
		c.Config["schema.include.list"] = schema
		c.Config["table.include.list"] = schema + ".outbox"
		c.Config["slot.name"] = strings.ReplaceAll(schema, "-", "_") + "_outbox"
		c.Config["publication.name"] = strings.ReplaceAll(schema, "-", "_") + "_outbox"
		c.Config["topic.prefix"] = schema
		return nil
	}
}

// WithTopicPrefix routes events to <prefix>.<aggregatetype>.events (default prefix: orderflow).
func WithTopicPrefix(prefix string) OutboxOption {
	return func(c *Connector) error {
		if prefix == "" || strings.ContainsAny(prefix, "${} ") {
			return fmt.Errorf("outbox connector: invalid topic prefix %q", prefix)
		}
		c.Config["transforms.outbox.route.topic.replacement"] = prefix + ".${routedByValue}.events"
		return nil
	}
}

// WithSetting sets any connector setting, e.g. slot.drop.on.stop for throwaway stacks.
func WithSetting(key, value string) OutboxOption {
	return func(c *Connector) error { c.Config[key] = value; return nil }
}

// OutboxConnector returns the project's Debezium outbox connector (outbox.json) with the options
// applied, checked by CheckOutbox.
func OutboxConnector(opts ...OutboxOption) (Connector, error) {
	c, err := Load(bytes.NewReader(outboxJSON))
	if err != nil {
		return Connector{}, fmt.Errorf("embedded outbox.json: %w", err)
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return Connector{}, err
		}
	}
	return c, CheckOutbox(c)
}

// TopicFor returns the topic the outbox router writes events of an aggregate type to.
func TopicFor(c Connector, aggregateType string) string {
	repl := c.Config["transforms.outbox.route.topic.replacement"]
	if repl == "" {
		repl = "outbox.event.${routedByValue}"
	}
	return strings.ReplaceAll(repl, "${routedByValue}", aggregateType)
}
