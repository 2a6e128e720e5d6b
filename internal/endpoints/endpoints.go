// Package endpoints holds the endpoints every orderflow component needs: the Kafka brokers, the
// PostgreSQL DSN, the Confluent-compatible schema registry and the Kafka Connect REST API.
//
// Values come from the environment (ORDERFLOW_*), which flags in cmd/orderflow may override; the
// defaults point at the local stack that `make up` starts, so nothing needs setting locally.
package endpoints

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults for the local stack started by `make up`. The DSN's password is a local-only default:
// set ORDERFLOW_PG_DSN (or ORDERFLOW_PG_PASSWORD) anywhere else.
const (
	DefaultBrokers     = "localhost:9092"
	DefaultPGDSN       = "postgres://postgres:postgres@localhost:5432/orderflow"
	DefaultRegistryURL = "http://localhost:8081/apis/ccompat/v7"
	DefaultConnectURL  = "http://localhost:8083"
)

// Endpoints is the set of endpoints shared by orderflow's verbs.
type Endpoints struct {
	Brokers     []string // Kafka bootstrap servers
	PGDSN       string   // PostgreSQL connection string (pgx)
	RegistryURL string   // base URL of the Confluent-compatible registry API
	ConnectURL  string   // base URL of the Kafka Connect REST API
	// ConnectPGHost is host[:port] at which the Connect worker reaches PostgreSQL, when it differs
	// from the DSN's host (e.g. "postgres:5432" inside docker compose). Empty: the DSN's host.
	ConnectPGHost string
	Timeout       time.Duration // upper bound for one request to any of the above
}

// FromEnv returns the configuration from ORDERFLOW_* variables, with local defaults.
func FromEnv() Endpoints {
	c := Endpoints{
		Brokers:       splitList(getenv("ORDERFLOW_BROKERS", DefaultBrokers)),
		PGDSN:         getenv("ORDERFLOW_PG_DSN", defaultDSN()),
		RegistryURL:   strings.TrimRight(getenv("ORDERFLOW_REGISTRY_URL", DefaultRegistryURL), "/"),
		ConnectURL:    strings.TrimRight(getenv("ORDERFLOW_CONNECT_URL", DefaultConnectURL), "/"),
		ConnectPGHost: getenv("ORDERFLOW_CONNECT_PG_HOST", ""),
		Timeout:       10 * time.Second,
	}
	return c
}

// Validate reports every malformed field at once.
func (c Endpoints) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one broker address is required"))
	}
	if c.PGDSN == "" {
		errs = append(errs, errors.New("pg dsn: required"))
	}
	for name, raw := range map[string]string{"registry url": c.RegistryURL, "connect url": c.ConnectURL} {
		if u, err := url.Parse(raw); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an absolute http(s) URL", name, raw))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// defaultDSN honours ORDERFLOW_PG_PASSWORD, the variable the native stack also reads. The
// password goes in as URL user info (url.UserPassword escapes it as user info must be: a space is
// %20, never the "+" of a query string).
func defaultDSN() string {
	if pw := os.Getenv("ORDERFLOW_PG_PASSWORD"); pw != "" {
		u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", pw), Host: "localhost:5432", Path: "/orderflow"}
		return u.String()
	}
	return DefaultPGDSN
}

// Redact returns s (a DSN or URL) with its password replaced by "xxxxx", for help texts, logs and
// error messages. A string that does not parse as a URL is returned as "<redacted>" when it
// mentions a password, unchanged otherwise.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		if strings.Contains(strings.ToLower(s), "password") {
			return "<redacted>"
		}
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func getenv(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}
