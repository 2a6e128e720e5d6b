// Package gate is orderflow's schema compatibility gate. It consumes .avsc files and a
// Confluent-compatible registry (with HTTP basic auth when given credentials: WithBasicAuth, or
// user info in the URL); it keeps nothing itself; it emits registered schemas (Apply) or
// findings (Check).
//
// Every subject gets the FULL_TRANSITIVE rule: consumers replay history (reading every older
// version: backward) and, during a rolling deploy, old consumers read events of new producers
// (forward). On top of the registry's verdict the gate enforces one rule of its own: an enum
// symbol is never removed (Avro would silently read old events as the default symbol).
//
// Apicurio enforces nothing unless a rule exists, so Apply sets the rule before it checks, and
// Check reports a subject whose rule is missing or weaker instead of trusting a registry that
// would accept anything.
package gate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/orderflow/orderflow/internal/httpjson"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Level is the compatibility level orderflow requires of every subject.
const Level = "FULL_TRANSITIVE"

// Gate checks and registers schemas in a Confluent-compatible registry.
type Gate struct {
	api    httpjson.Client
	prefix string
}

// Option configures a Gate.
type Option func(*Gate)

// WithSubjectPrefix prefixes every subject (tests use it to get private subjects).
func WithSubjectPrefix(p string) Option { return func(g *Gate) { g.prefix = p } }

// WithBasicAuth authenticates every request with HTTP basic auth; it takes precedence over
// credentials in the URL. With an empty user name or password it does nothing (as
// codec.WithBasicAuth).
func WithBasicAuth(username, password string) Option {
	return func(g *Gate) {
		if username != "" && password != "" {
			g.api.Auth = &httpjson.BasicAuth{Username: username, Password: password}
		}
	}
}

// New returns a gate for the Confluent-compatible API at baseURL. User info in baseURL
// (http://user:pass@host/…) is taken out of the URL and sent as basic auth, unless
// WithBasicAuth gives credentials. A 401 or 403 answer is returned as a
// *codec.RegistryAuthError.
func New(baseURL string, opts ...Option) *Gate {
	base, auth := httpjson.SplitUserInfo(baseURL)
	if auth != nil && (auth.Username == "" || auth.Password == "") {
		auth = nil // the rule of WithBasicAuth
	}
	g := &Gate{api: httpjson.Client{Service: "registry", Base: strings.TrimRight(base, "/"), Auth: auth,
		HTTP: &http.Client{Timeout: 15 * time.Second}, ContentType: "application/vnd.schemaregistry.v1+json", MaxAnswer: 16 << 20}}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Subjects lists the registry's subjects (it doubles as the registry's health probe).
func (g *Gate) Subjects(ctx context.Context) ([]string, error) {
	var out []string
	return out, g.do(ctx, http.MethodGet, "/subjects", nil, &out)
}

// DeleteSubject deletes subject and every version of it, soft then permanently (tests clean up
// their private subjects with it). A subject that does not exist is not an error.
func (g *Gate) DeleteSubject(ctx context.Context, subject string) error {
	for _, q := range []string{"", "?permanent=true"} {
		err := g.do(ctx, http.MethodDelete, "/subjects/"+url.PathEscape(subject)+q, nil, nil)
		if err != nil && !errors.Is(err, httpjson.ErrNotFound) {
			return err
		}
	}
	return nil
}

// Subject returns the registry subject the gate uses for a schema.
func (g *Gate) Subject(s schemas.Schema) string { return g.prefix + s.Subject }

// Finding is one schema the gate refuses, with the reason.
type Finding struct {
	Subject string
	File    string
	Reason  string
}

func (f Finding) String() string { return fmt.Sprintf("%s (%s): %s", f.Subject, f.File, f.Reason) }

// RefusedError is returned by Apply when any schema is refused; nothing was registered.
type RefusedError struct{ Findings []Finding }

func (e *RefusedError) Error() string {
	lines := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		lines[i] = f.String()
	}
	return fmt.Sprintf("%d schema(s) refused, nothing registered:\n%s", len(e.Findings), strings.Join(lines, "\n"))
}

// Check compares every schema with what the registry holds for its subject, without writing
// anything. A subject the registry does not know yet passes. It returns one finding per refused
// schema.
func (g *Gate) Check(ctx context.Context, list []schemas.Schema) ([]Finding, error) {
	var findings []Finding
	for _, s := range list {
		reason, err := g.check(ctx, s, true)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			findings = append(findings, Finding{Subject: g.Subject(s), File: s.File, Reason: reason})
		}
	}
	return findings, nil
}

// Apply sets FULL_TRANSITIVE on every subject, checks every schema, and only when none is
// refused registers them all. It is idempotent: registering a schema the subject already holds
// adds no version. It returns the schema id of each subject.
func (g *Gate) Apply(ctx context.Context, list []schemas.Schema) (map[string]int, error) {
	for _, s := range list {
		if err := g.setLevel(ctx, g.Subject(s)); err != nil {
			return nil, err
		}
	}
	var findings []Finding
	for _, s := range list {
		reason, err := g.check(ctx, s, false)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			findings = append(findings, Finding{Subject: g.Subject(s), File: s.File, Reason: reason})
		}
	}
	if len(findings) > 0 {
		return nil, &RefusedError{Findings: findings}
	}
	ids := map[string]int{}
	for _, s := range list {
		var res struct {
			ID int `json:"id"`
		}
		path := "/subjects/" + url.PathEscape(g.Subject(s)) + "/versions"
		if err := g.do(ctx, http.MethodPost, path, map[string]string{"schema": s.Text}, &res); err != nil {
			return ids, fmt.Errorf("register %s: %w", g.Subject(s), err)
		}
		ids[g.Subject(s)] = res.ID
	}
	return ids, nil
}

// check returns why s is refused, or "".
func (g *Gate) check(ctx context.Context, s schemas.Schema, requireLevel bool) (string, error) {
	subject := g.Subject(s)
	versions, err := g.versions(ctx, subject)
	if err != nil {
		return "", err
	}
	if len(versions) == 0 {
		return "", nil // a new subject: nothing to be compatible with
	}
	if requireLevel {
		level, err := g.level(ctx, subject)
		if err != nil {
			return "", err
		}
		if level != Level {
			return fmt.Sprintf("compatibility rule is %s, want %s (run `orderflow schemas apply`)", level, Level), nil
		}
	}
	// Our own rule and the explanation, against every registered version (transitive).
	var reasons []string
	projectRule := false
	seen := map[string]bool{}
	for _, v := range versions {
		old, err := g.schemaAt(ctx, subject, v)
		if err != nil {
			return "", err
		}
		changes, err := codec.Diff(old, s.Text)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.File, err)
		}
		for _, c := range changes {
			r := c.Path + ": " + c.What
			if !seen[r] {
				seen[r] = true
				reasons = append(reasons, fmt.Sprintf("%s (vs version %d)", r, v))
			}
			projectRule = projectRule || c.ProjectRule
		}
	}
	compatible, err := g.compatible(ctx, subject, s.Text)
	if err != nil {
		return "", err
	}
	switch {
	case compatible && !projectRule:
		return "", nil
	case compatible:
		return "refused by orderflow's evolution rules: " + strings.Join(reasons, "; "), nil
	case len(reasons) > 0:
		return "incompatible under " + Level + ": " + strings.Join(reasons, "; "), nil
	default:
		return "the registry reports it incompatible under " + Level + " with the registered versions", nil
	}
}

func (g *Gate) versions(ctx context.Context, subject string) ([]int, error) {
	var vs []int
	err := g.do(ctx, http.MethodGet, "/subjects/"+url.PathEscape(subject)+"/versions", nil, &vs)
	if errors.Is(err, httpjson.ErrNotFound) {
		return nil, nil
	}
	sort.Ints(vs)
	return vs, err
}

func (g *Gate) schemaAt(ctx context.Context, subject string, version int) (string, error) {
	var res struct {
		Schema string `json:"schema"`
	}
	err := g.do(ctx, http.MethodGet, fmt.Sprintf("/subjects/%s/versions/%d", url.PathEscape(subject), version), nil, &res)
	return res.Schema, err
}

func (g *Gate) level(ctx context.Context, subject string) (string, error) {
	var res struct {
		Level string `json:"compatibilityLevel"`
	}
	err := g.do(ctx, http.MethodGet, "/config/"+url.PathEscape(subject)+"?defaultToGlobal=true", nil, &res)
	if errors.Is(err, httpjson.ErrNotFound) {
		return "NONE", nil
	}
	if res.Level == "" {
		res.Level = "NONE"
	}
	return res.Level, err
}

func (g *Gate) setLevel(ctx context.Context, subject string) error {
	err := g.do(ctx, http.MethodPut, "/config/"+url.PathEscape(subject), map[string]string{"compatibility": Level}, nil)
	if err != nil {
		return fmt.Errorf("set %s on %s: %w", Level, subject, err)
	}
	return nil
}

// compatible asks the registry whether text is compatible with every version of the subject under
// its rule (POST /compatibility/subjects/{s}/versions: transitive, unlike …/versions/latest).
func (g *Gate) compatible(ctx context.Context, subject, text string) (bool, error) {
	var res struct {
		IsCompatible bool `json:"is_compatible"`
	}
	err := g.do(ctx, http.MethodPost, "/compatibility/subjects/"+url.PathEscape(subject)+"/versions",
		map[string]string{"schema": text}, &res)
	return res.IsCompatible, err
}

func (g *Gate) do(ctx context.Context, method, path string, body, out any) error {
	err := g.api.Do(ctx, method, path, body, out)
	if status := httpjson.StatusOf(err); status == http.StatusUnauthorized || status == http.StatusForbidden {
		user := ""
		if g.api.Auth != nil {
			user = g.api.Auth.Username
		}
		return &codec.RegistryAuthError{StatusCode: status, Username: user, Err: err}
	}
	return err
}
