package connectors

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
)

// Client talks to the Kafka Connect REST API. It is safe for concurrent use.
type Client struct {
	base string
	http *http.Client
	poll time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the default HTTP client (10 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithPollInterval sets how often WaitRunning and retries poll Connect (default 250 ms).
func WithPollInterval(d time.Duration) Option { return func(c *Client) { c.poll = d } }

// NewClient returns a client for the Connect worker at baseURL (e.g. http://localhost:8083).
func NewClient(baseURL string, opts ...Option) *Client {
	c := &Client{
		base: strings.TrimRight(baseURL, "/"),
		http: &http.Client{Timeout: 10 * time.Second},
		poll: 250 * time.Millisecond,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Plugin is one entry of GET /connector-plugins.
type Plugin struct {
	Class   string `json:"class"`
	Type    string `json:"type"`
	Version string `json:"version"`
}

// Plugins lists the connector plugins the worker has loaded.
func (c *Client) Plugins(ctx context.Context) ([]Plugin, error) {
	var out []Plugin
	err := c.do(ctx, http.MethodGet, "/connector-plugins", nil, &out)
	return out, err
}

// State is the state of a connector or one of its tasks.
type State struct {
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// Status is GET /connectors/{name}/status.
type Status struct {
	Name      string `json:"name"`
	Connector State  `json:"connector"`
	Tasks     []struct {
		ID int `json:"id"`
		State
	} `json:"tasks"`
}

// Running reports whether the connector and all its tasks (at least one) are RUNNING.
func (s Status) Running() bool {
	if s.Connector.State != "RUNNING" || len(s.Tasks) == 0 {
		return false
	}
	for _, t := range s.Tasks {
		if t.State.State != "RUNNING" {
			return false
		}
	}
	return true
}

// failure returns a FailedError when the connector or a task is FAILED.
func (s Status) failure() error {
	if s.Connector.State == "FAILED" {
		return &FailedError{Connector: s.Name, Where: "connector", Trace: firstLine(s.Connector.Trace)}
	}
	for _, t := range s.Tasks {
		if t.State.State == "FAILED" {
			return &FailedError{Connector: s.Name, Where: fmt.Sprintf("task %d", t.ID), Trace: firstLine(t.Trace)}
		}
	}
	return nil
}

// Status returns the connector's status; errors.Is(err, ErrNotFound) when it does not exist.
func (c *Client) Status(ctx context.Context, name string) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/connectors/"+url.PathEscape(name)+"/status", nil, &s)
	return s, err
}

// List returns the names of the connectors the cluster runs.
func (c *Client) List(ctx context.Context) ([]string, error) {
	var names []string
	err := c.do(ctx, http.MethodGet, "/connectors", nil, &names)
	sort.Strings(names)
	return names, err
}

// Validate asks Connect to validate the configuration against the connector's plugin
// (PUT /connector-plugins/{class}/config/validate). It returns an *InvalidConfigError naming
// every rejected setting, so a bad config fails fast instead of producing a FAILED task later.
func (c *Client) Validate(ctx context.Context, conn Connector) error {
	class := conn.Config["connector.class"]
	if class == "" {
		return &InvalidConfigError{Connector: conn.Name, Problems: []string{"connector.class: missing"}}
	}
	cfg := make(map[string]string, len(conn.Config)+1)
	for k, v := range conn.Config {
		cfg[k] = v
	}
	cfg["name"] = conn.Name
	var res struct {
		ErrorCount int `json:"error_count"`
		Configs    []struct {
			Value struct {
				Name   string   `json:"name"`
				Errors []string `json:"errors"`
			} `json:"value"`
		} `json:"configs"`
	}
	path := "/connector-plugins/" + url.PathEscape(class) + "/config/validate"
	if err := c.do(ctx, http.MethodPut, path, cfg, &res); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode < 500 {
			return &InvalidConfigError{Connector: conn.Name, Problems: []string{apiErr.Message}}
		}
		return err
	}
	if res.ErrorCount == 0 {
		return nil
	}
	invalid := &InvalidConfigError{Connector: conn.Name}
	for _, ci := range res.Configs {
		for _, msg := range ci.Value.Errors {
			invalid.Problems = append(invalid.Problems, ci.Value.Name+": "+msg)
		}
	}
	return invalid
}

// Put creates or updates the connector (PUT /connectors/{name}/config). It is idempotent and
// retries while the Connect cluster is rebalancing (409) until ctx ends.
func (c *Client) Put(ctx context.Context, conn Connector) error {
	path := "/connectors/" + url.PathEscape(conn.Name) + "/config"
	for {
		err := c.do(ctx, http.MethodPut, path, conn.Config, nil)
		var apiErr *APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
			return err
		}
		if err := sleep(ctx, c.poll); err != nil {
			return fmt.Errorf("put connector %s: still rebalancing: %w", conn.Name, err)
		}
	}
}

// Apply validates the configuration, creates or updates the connector and waits until it and its
// tasks are RUNNING. Applying the same configuration twice is a no-op.
func (c *Client) Apply(ctx context.Context, conn Connector) error {
	if err := c.Validate(ctx, conn); err != nil {
		return err
	}
	if err := c.Put(ctx, conn); err != nil {
		return err
	}
	return c.WaitRunning(ctx, conn.Name)
}

// WaitRunning polls the connector's status until it and all its tasks are RUNNING. It returns a
// *FailedError as soon as the connector or a task FAILED, and ctx's error when ctx ends first.
func (c *Client) WaitRunning(ctx context.Context, name string) error {
	var last Status
	for {
		s, err := c.Status(ctx, name)
		switch {
		case err == nil && s.Running():
			return nil
		case err == nil:
			if ferr := s.failure(); ferr != nil {
				return ferr
			}
			last = s
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if err := sleep(ctx, c.poll); err != nil {
			return fmt.Errorf("connector %s not RUNNING (connector %q, %d task(s)): %w",
				name, last.Connector.State, len(last.Tasks), err)
		}
	}
}

// Restart restarts the connector and its tasks.
func (c *Client) Restart(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/connectors/"+url.PathEscape(name)+"/restart?includeTasks=true", nil, nil)
}

// Delete removes the connector; deleting a missing connector is not an error.
func (c *Client) Delete(ctx context.Context, name string) error {
	err := c.do(ctx, http.MethodDelete, "/connectors/"+url.PathEscape(name), nil, nil)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	return httpjson.Client{Service: "connect", Base: c.base, HTTP: c.http}.Do(ctx, method, path, body, out)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
