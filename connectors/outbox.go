package connectors

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/processors/orders/outbox"
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
// a publication of all tables (needs superuser, captures everything; "filtered" makes one of the
// listed tables, "disabled" uses one an administrator made, as a least-privilege replication
// role needs, see pipelines/setup.Roles), a missing outbox router,
// a password written into the file instead of taken from the worker's environment, and a
// heartbeat that cannot keep the replication slot moving (see checkHeartbeat).
func CheckOutbox(c Connector) error {
	var problems []string
	want := map[string]string{
		"plugin.name":            "pgoutput",
		"transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
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
	if mode := c.Config["publication.autocreate.mode"]; mode != "filtered" && mode != "disabled" {
		problems = append(problems, fmt.Sprintf("publication.autocreate.mode must be \"filtered\" or \"disabled\" (a publication made by an administrator), not %q", mode))
	}
	if c.Config["table.include.list"] == "" {
		problems = append(problems, "table.include.list must name the outbox table")
	}
	if pw := c.Config["database.password"]; pw != "" && !strings.HasPrefix(pw, "${") {
		problems = append(problems, "database.password must come from a config provider such as ${env:ORDERFLOW_PG_PASSWORD}, not be written in the file")
	}
	problems = append(problems, checkHeartbeat(c)...)
	if len(problems) > 0 {
		return &InvalidConfigError{Connector: c.Name, Problems: problems}
	}
	return nil
}

// heartbeatTarget finds the table a heartbeat.action.query writes.
var heartbeatTarget = regexp.MustCompile(`(?i)^\s*(?:insert\s+into|update)\s+([A-Za-z0-9_."]+)`)

// checkHeartbeat checks what keeps the replication slot moving while the outbox is idle:
//   - a heartbeat interval, and an action query writing a table the filtered publication carries
//     (only changes of published tables reach the connector, so only they give it a newer WAL
//     position to confirm);
//   - a Filter transform ahead of the outbox router dropping that table's changes (the router
//     cannot route them);
//   - Debezium's heartbeat records reaching Kafka, on a topic the connector may create: Debezium
//     confirms to PostgreSQL only positions whose records Connect has committed, and Connect
//     commits no offset for a dropped record.
func checkHeartbeat(c Connector) []string {
	var problems []string
	if ms, err := strconv.Atoi(c.Config["heartbeat.interval.ms"]); err != nil || ms <= 0 {
		problems = append(problems, "heartbeat.interval.ms must be > 0: without heartbeats an idle outbox holds WAL behind the replication slot forever")
	}
	q := c.Config["heartbeat.action.query"]
	m := heartbeatTarget.FindStringSubmatch(q)
	if m == nil {
		return append(problems, "heartbeat.action.query must INSERT INTO or UPDATE a table listed in table.include.list, so that heartbeats pass through the publication and advance the slot")
	}
	table := strings.ReplaceAll(m[1], `"`, "")
	if !includes(c.Config["table.include.list"], table) {
		problems = append(problems, fmt.Sprintf("heartbeat.action.query writes %s, which table.include.list must list: a table outside the filtered publication never advances the slot", table))
	}
	prefix := c.Config["topic.prefix"]
	if topic := prefix + "." + table; !dropsTopic(c, topic) {
		problems = append(problems, fmt.Sprintf("records of topic %s (the heartbeat table's changes) must be dropped before the outbox router by a Filter transform with a TopicNameMatches predicate", topic))
	}
	heartbeats := HeartbeatTopic(c)
	if dropsTopic(c, heartbeats) {
		problems = append(problems, fmt.Sprintf("records of topic %s (Debezium's heartbeats) must reach Kafka: Debezium confirms only positions Connect has committed, and Connect commits none for a dropped record", heartbeats))
	}
	if !createsTopic(c, heartbeats) {
		problems = append(problems, fmt.Sprintf("a topic.creation group other than default must include %s, so that the connector creates its heartbeat topic", heartbeats))
	}
	return problems
}

// HeartbeatTopic returns the topic Debezium writes the connector's heartbeat records to.
func HeartbeatTopic(c Connector) string {
	prefix := c.Config["topic.heartbeat.prefix"]
	if prefix == "" {
		prefix = "__debezium-heartbeat"
	}
	return prefix + "." + c.Config["topic.prefix"]
}

// createsTopic reports whether a topic creation group of c (other than Connect's catch-all
// default group) includes topic.
func createsTopic(c Connector, topic string) bool {
	for _, g := range strings.Split(c.Config["topic.creation.groups"], ",") {
		g = strings.TrimSpace(g)
		if g == "" || g == "default" {
			continue
		}
		if matchesAny(c.Config["topic.creation."+g+".include"], topic) && !matchesAny(c.Config["topic.creation."+g+".exclude"], topic) {
			return true
		}
	}
	return false
}

// matchesAny reports whether a comma-separated list of regular expressions has one matching the
// whole of s.
func matchesAny(list, s string) bool {
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if re, err := regexp.Compile(`^(?:` + p + `)$`); err == nil && re.MatchString(s) {
			return true
		}
	}
	return false
}

// includes reports whether table matches an entry of a Debezium include list (comma-separated
// regular expressions matched against the whole name).
func includes(list, table string) bool { return matchesAny(list, table) }

// dropsTopic reports whether a Filter transform listed before the outbox router drops records of
// topic (its TopicNameMatches predicate matches the topic, or does not when negated).
func dropsTopic(c Connector, topic string) bool {
	for _, name := range strings.Split(c.Config["transforms"], ",") {
		name = strings.TrimSpace(name)
		if c.Config["transforms."+name+".type"] == "io.debezium.transforms.outbox.EventRouter" {
			return false
		}
		if c.Config["transforms."+name+".type"] != "org.apache.kafka.connect.transforms.Filter" {
			continue
		}
		pred := c.Config["transforms."+name+".predicate"]
		if pred == "" || c.Config["predicates."+pred+".type"] != "org.apache.kafka.connect.transforms.predicates.TopicNameMatches" {
			continue
		}
		re, err := regexp.Compile(`^(?:` + c.Config["predicates."+pred+".pattern"] + `)$`)
		if err != nil {
			continue
		}
		if re.MatchString(topic) != (c.Config["transforms."+name+".negate"] == "true") {
			return true
		}
	}
	return false
}

// heartbeatQuery upserts the one row of schema's heartbeat table.
func heartbeatQuery(schema string) string {
	return "INSERT INTO " + schema + "." + outbox.HeartbeatTable +
		" (id, beat_at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at"
}

// OutboxOption adjusts the outbox connector built by OutboxConnector.
type OutboxOption func(*Connector) error

// WithName names the connector (default "orderflow-outbox").
func WithName(name string) OutboxOption {
	return func(c *Connector) error { c.Name = name; return nil }
}

// WithDatabase points the connector at the database of a pgx DSN (URL or keyword/value form). It
// copies host, port, database and user, and the DSN's TLS settings: sslmode as database.sslmode
// (disable, allow, prefer, require, verify-ca or verify-full) and sslrootcert as
// database.sslrootcert (a path on the Connect worker; pgx reads the same path here when it
// parses the DSN). A DSN without them, or with empty values, leaves them unset: Debezium's
// defaults. PGSSLMODE and the like in orderflow's own environment are not copied (the worker runs
// elsewhere). The password is not copied: the Connect worker reads it from ORDERFLOW_PG_PASSWORD.
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
		settings, err := dsnSettings(dsn)
		if err != nil {
			return fmt.Errorf("outbox connector: database DSN: %w", err)
		}
		if mode := settings["sslmode"]; mode != "" {
			if !slices.Contains(sslModes, mode) {
				return fmt.Errorf("outbox connector: database DSN: sslmode %q is not one of %s", mode, strings.Join(sslModes, ", "))
			}
			c.Config["database.sslmode"] = mode
		}
		if root := settings["sslrootcert"]; root != "" {
			c.Config["database.sslrootcert"] = root
		}
		return nil
	}
}

// sslModes are the sslmode values both libpq (pgx) and Debezium's database.sslmode accept.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// dsnSettings returns the settings the DSN itself gives (not the environment's PG* variables),
// read as libpq and pgx read them: for a postgres:// or postgresql:// URL its query parameters
// (percent-decoded, "+" taken literally, the last occurrence winning, ssl=true standing for
// sslmode=require), else the keyword=value pairs. Errors never quote the DSN, which may hold a
// password.
func dsnSettings(dsn string) (map[string]string, error) {
	rest, isURL := strings.CutPrefix(dsn, "postgresql://")
	if !isURL {
		rest, isURL = strings.CutPrefix(dsn, "postgres://")
	}
	if !isURL {
		return keywordValues(dsn)
	}
	// user info ends at an "@" ahead of any "/" (it may hold a "?"); no host, port or database
	// name holds a "?", so the query starts at the first one after the user info
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		rest = rest[i+1:]
	}
	out := map[string]string{}
	_, query, _ := strings.Cut(rest, "?")
	sslLast := false // ssl=true counts only when no sslmode follows it
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		rawKey, rawValue, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, errors.New("a URL query parameter lacks its \"=\"")
		}
		key, err := uriDecode(rawKey)
		if err != nil {
			return nil, err
		}
		value, err := uriDecode(rawValue)
		if err != nil {
			return nil, fmt.Errorf("the value of %s: %w", key, err)
		}
		switch key {
		case "ssl":
			sslLast = true
		case "sslmode":
			sslLast = false
		}
		out[key] = value
	}
	if out["ssl"] == "true" {
		delete(out, "ssl")
		if sslLast {
			out["sslmode"] = "require"
		}
	}
	return out, nil
}

// uriDecode decodes %XX escapes in a URL component and drops its leading and trailing spaces,
// as libpq does ("+" stays "+").
func uriDecode(raw string) (string, error) {
	raw = strings.Trim(raw, " ")
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] != '%' {
			b.WriteByte(raw[i])
			continue
		}
		if i+2 >= len(raw) {
			return "", errors.New("a truncated percent escape")
		}
		c, err := strconv.ParseUint(raw[i+1:i+3], 16, 8)
		if err != nil {
			return "", errors.New("an invalid percent escape")
		}
		b.WriteByte(byte(c))
		i += 2
	}
	return b.String(), nil
}

// keywordValues parses a keyword/value DSN: key=value pairs separated by white space, spaces
// allowed around "=", a value either single-quoted or running to the next white space, a
// backslash taking the next character literally (as pgx's parser, which has already accepted the
// DSN when this runs).
func keywordValues(dsn string) (map[string]string, error) {
	const space = " \t\n\r\v\f"
	out := map[string]string{}
	s := dsn
	for {
		s = strings.TrimLeft(s, space)
		if s == "" {
			return out, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, errors.New("a keyword/value pair lacks its \"=\"")
		}
		key := strings.TrimRight(s[:eq], space)
		if key == "" || strings.ContainsAny(key, space) {
			return nil, errors.New("a keyword/value pair lacks its key or its \"=\"")
		}
		s = strings.TrimLeft(s[eq+1:], space)
		var val strings.Builder
		quoted := strings.HasPrefix(s, "'")
		if quoted {
			s = s[1:]
		}
		i, closed := 0, !quoted
		for ; i < len(s); i++ {
			ch := s[i]
			if ch == '\\' { // a trailing one escapes the end of the string: dropped
				if i++; i < len(s) {
					val.WriteByte(s[i])
				}
				continue
			}
			if quoted && ch == '\'' {
				closed = true
				i++
				break
			}
			if !quoted && strings.IndexByte(space, ch) >= 0 {
				break
			}
			val.WriteByte(ch)
		}
		if !closed {
			return nil, fmt.Errorf("the value of %s lacks its closing quote", key)
		}
		out[key] = val.String()
		s = s[min(i, len(s)):] // past a trailing backslash, i is len(s)+1
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
// publication of its own (so several connectors, e.g. one per test, never share them), and
// heartbeats written to schema.outbox_heartbeat.
func WithOutboxTable(schema string) OutboxOption {
	return func(c *Connector) error {
		if schema == "" || strings.ContainsAny(schema, ". \"") {
			return fmt.Errorf("outbox connector: invalid schema name %q", schema)
		}
		c.Config["schema.include.list"] = schema
		c.Config["table.include.list"] = schema + ".outbox," + schema + "." + outbox.HeartbeatTable
		c.Config["heartbeat.action.query"] = heartbeatQuery(schema)
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

// ForDeployment is the outbox connector of a deployment: topics under prefix, the outbox table
// in schema, the database of ep. The deployment in the default schema has the default name
// (orderflow-outbox); one in another schema is named <prefix>-outbox, with its own slot and
// publication. extra options come last (they may rename it or add settings).
func ForDeployment(ep endpoints.Endpoints, prefix, schema string, extra ...OutboxOption) (Connector, error) {
	opts := []OutboxOption{WithDatabase(ep.PGDSN), WithDatabaseHost(ep.ConnectPGHost), WithTopicPrefix(prefix)}
	if schema != outbox.DefaultSchema {
		opts = append(opts, WithOutboxTable(schema), WithName(prefix+"-outbox"))
	}
	return OutboxConnector(append(opts, extra...)...)
}
