package codec

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"

	"github.com/riferrei/srclient"

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

// SRClient adapts riferrei/srclient to Registry. Transport failures are reported as
// KindRegistryUnavailable (transient); 404s wrap ErrNotFound.
type SRClient struct {
	C srclient.ISchemaRegistryClient
}

// NewSRClient returns a Registry for the Confluent-compatible API at baseURL
// (for Apicurio: http://host:8081/apis/ccompat/v7).
func NewSRClient(baseURL string) *SRClient {
	c := srclient.CreateSchemaRegistryClient(baseURL)
	c.CodecCreationEnabled(false)
	return &SRClient{C: c}
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
	var srErr srclient.Error
	if errors.As(err, &srErr) && srErr.Code/100 == 404 {
		return fmt.Errorf("%s: %w (%s)", what, ErrNotFound, srErr.Message)
	}
	var netErr net.Error
	var urlErr *url.Error
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
