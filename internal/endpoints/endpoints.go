// Package endpoints holds the endpoints every orderflow component needs: the Kafka brokers, the
// PostgreSQL DSN, the Confluent-compatible schema registry and the Kafka Connect REST API.
//
// Values come from the environment (ORDERFLOW_*), which flags in cmd/orderflow may override; the
// defaults point at the local stack that `make up` starts, so nothing needs setting locally.
//
// The registry's basic-auth credentials come from the environment only, never from a flag (whose
// value --help would show): ORDERFLOW_REGISTRY_USERNAME and ORDERFLOW_REGISTRY_PASSWORD, set both
// or neither. Credentials written as user info into ORDERFLOW_REGISTRY_URL
// (https://user:pass@host/…) work too — every registry client moves them into basic auth — but not
// together with the variables (Validate refuses the ambiguity). The password is kept as a Secret:
// String, Redact, fmt, JSON and slog never show it; only RegistryCredentials hands it out, to the
// registry clients.
package endpoints

import (
	"errors"
	"fmt"
	"io"
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
	// RegistryUsername and RegistryPassword authenticate to the registry (HTTP basic auth); both
	// empty: no authentication. From ORDERFLOW_REGISTRY_USERNAME and ORDERFLOW_REGISTRY_PASSWORD.
	RegistryUsername string
	RegistryPassword Secret
	ConnectURL       string // base URL of the Kafka Connect REST API
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
		// the user name is trimmed like every other value; the password is taken as it is
		RegistryUsername: getenv("ORDERFLOW_REGISTRY_USERNAME", ""),
		RegistryPassword: Secret(os.Getenv("ORDERFLOW_REGISTRY_PASSWORD")),
	}
	return c
}

// RegistryCredentials returns the user name and password to send to the registry ("", "" for
// none). It is the one way the password leaves Endpoints; hand both straight to a registry
// client's basic-auth option, e.g. codec.WithBasicAuth(ep.RegistryCredentials()).
func (c Endpoints) RegistryCredentials() (username, password string) {
	return c.RegistryUsername, c.RegistryPassword.Reveal()
}

// String describes c for logs: the DSN and URLs through Redact, the registry user by name, its
// password never.
func (c Endpoints) String() string {
	auth := "none"
	if c.RegistryUsername != "" || c.RegistryPassword != "" {
		auth = "basic " + c.RegistryUsername + ":" + c.RegistryPassword.String()
	}
	return fmt.Sprintf("brokers=%s pg=%s registry=%s (auth %s) connect=%s",
		strings.Join(c.Brokers, ","), Redact(c.PGDSN), Redact(c.RegistryURL), auth, Redact(c.ConnectURL))
}

// Secret is a string never shown: String, every fmt verb, encoding/json and log/slog (through
// MarshalText) print it as "xxxxx", or "" when it is empty. Reveal returns the value itself.
type Secret string

const masked = "xxxxx"

// Reveal returns the secret itself, for the client that sends it.
func (s Secret) Reveal() string { return string(s) }

// String returns "xxxxx" ("" for an empty secret).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return masked
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x …) print String.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// MarshalText makes encoding/json and log/slog print String.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

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
			errs = append(errs, fmt.Errorf("%s: %q is not an absolute http(s) URL", name, Redact(raw)))
		}
	}
	if (c.RegistryUsername == "") != (c.RegistryPassword == "") {
		errs = append(errs, errors.New("registry credentials: set ORDERFLOW_REGISTRY_USERNAME and ORDERFLOW_REGISTRY_PASSWORD together"))
	}
	if u, err := url.Parse(c.RegistryURL); err == nil && u.User != nil {
		_, hasPassword := u.User.Password()
		switch {
		case c.RegistryUsername != "" || c.RegistryPassword != "":
			errs = append(errs, errors.New("registry url: carries credentials (user info) and ORDERFLOW_REGISTRY_USERNAME/ORDERFLOW_REGISTRY_PASSWORD are set too: use one"))
		case u.User.Username() == "" || !hasPassword:
			errs = append(errs, errors.New("registry url: its user info needs both a user name and a password (or use ORDERFLOW_REGISTRY_USERNAME and ORDERFLOW_REGISTRY_PASSWORD)"))
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
// error messages. A string that does not parse as a hierarchical URL is returned as "<redacted>"
// when it mentions a password or holds an "@" (user info that could not be told apart),
// unchanged otherwise.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		if strings.Contains(strings.ToLower(s), "password") || strings.Contains(s, "@") {
			return "<redacted>"
		}
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), masked)
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", masked)
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
