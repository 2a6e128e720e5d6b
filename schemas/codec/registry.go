package codec

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/riferrei/srclient"

	"github.com/orderflow/orderflow/internal/httpjson"
	"github.com/orderflow/orderflow/schemas"
)

// Registry is what the codec needs from a Confluent-compatible schema registry.
type Registry interface {
	// SchemaText returns the schema registered under id.
	SchemaText(id int) (string, error)
	// IDOf returns the id under which schema is registered for subject.
	IDOf(subject, schema string) (int, error)
}

// ErrNotFound is wrapped by Registry implementations when a schema or id is unknown.
var ErrNotFound = errors.New("not found in the schema registry")

// RegistryAuthError is a registry's 401 or 403 answer: credentials missing, refused, or lacking a
// permission. Its text names the status, the request and the user, never the password. The
// codec reports it as KindRegistryUnavailable: retrying helps only once the credentials are
// fixed, but the payload is not at fault and must not go to a dead-letter topic. The schema gate
// (schemas/gate) returns it too.
type RegistryAuthError struct {
	StatusCode int    // 401 or 403
	Username   string // the user the request authenticated as; "" when it carried no credentials
	Err        error  // the answer, e.g. an *httpjson.Error
}

func (e *RegistryAuthError) Error() string {
	const vars = "ORDERFLOW_REGISTRY_USERNAME and ORDERFLOW_REGISTRY_PASSWORD"
	var hint string
	switch {
	case e.Username == "":
		hint = "the registry wants credentials: set " + vars
	case e.StatusCode == http.StatusUnauthorized:
		hint = fmt.Sprintf("the registry refused the credentials of user %q: check %s", e.Username, vars)
	default:
		hint = fmt.Sprintf("the registry does not allow user %q this request", e.Username)
	}
	return e.Err.Error() + " (" + hint + ")"
}

func (e *RegistryAuthError) Unwrap() error { return e.Err }

// SRClient adapts riferrei/srclient to Registry. Transport failures and refused credentials
// (*RegistryAuthError) are reported as KindRegistryUnavailable (transient); 404s wrap
// ErrNotFound.
type SRClient struct {
	C srclient.ISchemaRegistryClient
}

// SROption configures an SRClient.
type SROption func(*srConfig)

type srConfig struct {
	auth *httpjson.BasicAuth
}

// WithBasicAuth authenticates every request with HTTP basic auth; it takes precedence over
// credentials in the URL. With an empty user name or password it does nothing (srclient's rule:
// credentials are sent only when both are set).
func WithBasicAuth(username, password string) SROption {
	return func(c *srConfig) {
		if username != "" && password != "" {
			c.auth = &httpjson.BasicAuth{Username: username, Password: password}
		}
	}
}

// NewSRClient returns a Registry for the Confluent-compatible API at baseURL
// (for Apicurio: http://host:8081/apis/ccompat/v7). User info in baseURL
// (http://user:pass@host/…) is taken out of the URL and sent as basic auth, unless WithBasicAuth
// gives credentials.
func NewSRClient(baseURL string, opts ...SROption) *SRClient {
	base, auth := httpjson.SplitUserInfo(baseURL)
	cfg := srConfig{auth: auth}
	for _, o := range opts {
		o(&cfg)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: refusals{next: http.DefaultTransport}}
	c := srclient.NewSchemaRegistryClient(base, srclient.WithClient(hc))
	c.CodecCreationEnabled(false)
	if cfg.auth != nil {
		c.SetCredentials(cfg.auth.Username, cfg.auth.Password)
	}
	return &SRClient{C: c}
}

// refusals turns a 401 or 403 answer into a *RegistryAuthError before srclient sees it:
// srclient reports an error body that is not JSON as the bare status line and a JSON one without
// its status, so the status — the one thing that tells a credentials problem — would be lost.
type refusals struct{ next http.RoundTripper }

func (t refusals) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden) {
		return resp, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	user, _, _ := req.BasicAuth()
	return nil, &RegistryAuthError{StatusCode: resp.StatusCode, Username: user,
		Err: httpjson.NewError("registry", req.Method, req.URL.Path, resp.StatusCode, body)}
}

func (r *SRClient) SchemaText(id int) (string, error) {
	s, err := r.C.GetSchema(id)
	if err != nil {
		return "", classify(err, fmt.Sprintf("schema id %d", id))
	}
	return s.Schema(), nil
}

func (r *SRClient) IDOf(subject, schema string) (int, error) {
	s, err := r.C.LookupSchema(subject, schema, srclient.Avro)
	if err != nil {
		return 0, classify(err, "subject "+subject)
	}
	return s.ID(), nil
}

func classify(err error, what string) error {
	var authErr *RegistryAuthError
	if errors.As(err, &authErr) {
		// without the *url.Error around it, which repeats the request's URL
		return &DecodeError{Kind: KindRegistryUnavailable, Err: fmt.Errorf("%s: %w", what, authErr)}
	}
	var srErr srclient.Error
	if errors.As(err, &srErr) && srErr.Code/100 == 404 {
		return fmt.Errorf("%s: %w (%s)", what, ErrNotFound, srErr.Message)
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &urlErr) && urlErr.Op == "parse" {
		// a parse error quotes the whole URL, user info and all
		return &DecodeError{Kind: KindRegistryUnavailable, Err: fmt.Errorf("%s: the registry URL does not parse", what)}
	}
	if errors.As(err, &netErr) || errors.As(err, &urlErr) {
		return &DecodeError{Kind: KindRegistryUnavailable, Err: fmt.Errorf("%s: %w", what, err)}
	}
	if errors.As(err, &srErr) && srErr.Code/100 == 500 {
		return &DecodeError{Kind: KindRegistryUnavailable, Err: fmt.Errorf("%s: %w", what, err)}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// MemoryRegistry is an in-process Registry for unit tests and examples: Register assigns ids
// from 1 and returns the same id for the same subject and schema text.
type MemoryRegistry struct {
	mu     sync.Mutex
	byID   map[int]string
	lookup map[string]int
}

// NewMemoryRegistry returns an empty MemoryRegistry.
func NewMemoryRegistry() *MemoryRegistry {
	return &MemoryRegistry{byID: map[int]string{}, lookup: map[string]int{}}
}

// Register stores schema under subject and returns its id.
func (m *MemoryRegistry) Register(subject, schema string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.lookup[subject+"\x00"+schema]; ok {
		return id
	}
	id := len(m.byID) + 1
	m.byID[id] = schema
	m.lookup[subject+"\x00"+schema] = id
	return id
}

func (m *MemoryRegistry) SchemaText(id int) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byID[id]
	if !ok {
		return "", fmt.Errorf("schema id %d: %w", id, ErrNotFound)
	}
	return s, nil
}

func (m *MemoryRegistry) IDOf(subject, schema string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.lookup[subject+"\x00"+schema]
	if !ok {
		return 0, fmt.Errorf("subject %s: %w", subject, ErrNotFound)
	}
	return id, nil
}

// NewInMemory returns a Serde over a MemoryRegistry holding every shipped schema: for unit tests
// of processors (goka's tester) and examples, where no registry runs.
func NewInMemory() (*Serde, error) {
	reg := NewMemoryRegistry()
	all, err := schemas.All()
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		reg.Register(s.Subject, s.Text)
	}
	return New(reg)
}
