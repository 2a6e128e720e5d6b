package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/linkedin/goavro/v2"

	"github.com/orderflow/orderflow/schemas"
)

// Serde encodes and decodes orderflow's events on the Confluent wire format. It is safe for
// concurrent use; schema lookups are cached for the life of the Serde.
type Serde struct {
	reg    Registry
	prefix string

	mu      sync.RWMutex
	writers map[int]*writerSchema    // schema id → writer schema
	readers map[string]*readerSchema // Avro full name → current schema
	types   map[string]reflect.Type  // Avro full name → Go type
}

type writerSchema struct {
	name  string
	node  *node // walked by checkBounds before every decode
	codec *goavro.Codec
}

type readerSchema struct {
	subject string
	text    string
	node    *node
	codec   *goavro.Codec
	id      int // 0 until looked up in the registry
}

// Option configures a Serde.
type Option func(*Serde)

// WithSubjectPrefix looks schemas up under prefix+subject (tests use private subjects).
func WithSubjectPrefix(p string) Option { return func(s *Serde) { s.prefix = p } }

// New returns a Serde over reg for the shipped schemas and event types of package schemas.
func New(reg Registry, opts ...Option) (*Serde, error) {
	s := &Serde{reg: reg, writers: map[int]*writerSchema{}, readers: map[string]*readerSchema{}, types: map[string]reflect.Type{}}
	for _, o := range opts {
		o(s)
	}
	all, err := schemas.All()
	if err != nil {
		return nil, err
	}
	for _, sc := range all {
		if err := s.addReader(sc); err != nil {
			return nil, err
		}
	}
	for _, t := range schemas.Types() {
		s.types[t.AvroName()] = reflect.TypeOf(t)
	}
	return s, nil
}

// WithSchema replaces the current (reader and writer) schema of one record, e.g. to run code
// built against another version. Used by evolution tests.
func (s *Serde) WithSchema(sc schemas.Schema) error { return s.addReader(sc) }

func (s *Serde) addReader(sc schemas.Schema) error {
	n, err := parseSchema(sc.Text)
	if err != nil {
		return fmt.Errorf("%s: %w", sc.File, err)
	}
	c, err := goavro.NewCodec(sc.Text)
	if err != nil {
		return fmt.Errorf("%s: %w", sc.File, err)
	}
	s.mu.Lock()
	s.readers[sc.Name] = &readerSchema{subject: s.prefix + sc.Subject, text: sc.Text, node: n, codec: c}
	s.mu.Unlock()
	return nil
}

// Named is any value with an Avro record name: every schemas.Event and schemas.OrderStatus.
type Named interface{ AvroName() string }

// Encode returns v on the wire format under the id its current schema has in the registry. The
// schema must have been registered (orderflow schemas apply); producers never register.
func (s *Serde) Encode(v Named) ([]byte, error) {
	name := v.AvroName()
	r, err := s.reader(name)
	if err != nil {
		return nil, err
	}
	id, err := s.idOf(name, r)
	if err != nil {
		return nil, err
	}
	if enc := compiledEncoder(reflect.TypeOf(v), r.node); enc != nil {
		header := make([]byte, headerLen, 256)
		header[0] = MagicByte
		binary.BigEndian.PutUint32(header[1:], uint32(id))
		addressable := reflect.New(reflect.TypeOf(v)).Elem() // one copy, so no field is boxed to be read
		addressable.Set(reflect.ValueOf(v))
		if out, err := enc(header, addressable); err == nil {
			return out, nil
		} // else the generic path gives goavro's error
	}
	return encodeGeneric(id, r, v)
}

// encodeGeneric encodes v through goavro's native form.
func encodeGeneric(id int, r *readerSchema, v Named) ([]byte, error) {
	name := v.AvroName()
	native, err := toNative(reflect.ValueOf(v), r.node)
	if err != nil {
		return nil, &DecodeError{Kind: KindTypeMismatch, Type: name, Err: err}
	}
	body, err := r.codec.BinaryFromNative(nil, native)
	if err != nil {
		return nil, &DecodeError{Kind: KindTypeMismatch, Type: name, Err: err}
	}
	return Frame(id, body), nil
}

// DecodeInto decodes data into *T, resolving the writer's schema against T's current schema.
// The writer's record must be T's record. Like Decode, it never allocates more than a small
// multiple of len(data) for a hostile payload (see checkBounds).
func DecodeInto[T Named](s *Serde, data []byte) (T, error) {
	var zero T
	v, name, err := s.decode(data, zero.AvroName())
	if err != nil {
		return zero, err
	}
	out, ok := v.(T)
	if !ok {
		return zero, &DecodeError{Kind: KindTypeMismatch, Type: name, Err: fmt.Errorf("payload is a %s, want %s", name, zero.AvroName())}
	}
	return out, nil
}

// Decode decodes any registered event into its Go type (a value such as schemas.OrderPlaced),
// chosen by the writer schema's record name. A payload over MaxPayload, or whose lengths and
// block counts claim more than its bytes hold, is a *DecodeError (KindOversized or
// KindTruncated) before anything is allocated for it.
func (s *Serde) Decode(data []byte) (Named, error) {
	v, _, err := s.decode(data, "")
	return v, err
}

func (s *Serde) decode(data []byte, want string) (Named, string, error) {
	if len(data) > MaxPayload {
		return nil, "", &DecodeError{Kind: KindOversized, Err: fmt.Errorf("payload of %d bytes exceeds %d", len(data), MaxPayload)}
	}
	id, body, err := Unframe(data)
	if err != nil {
		return nil, "", err
	}
	w, err := s.writer(id)
	if err != nil {
		return nil, "", err
	}
	if want != "" && w.name != want {
		return nil, w.name, &DecodeError{Kind: KindTypeMismatch, SchemaID: id, Type: w.name, Err: fmt.Errorf("payload is a %s, want %s", w.name, want)}
	}
	if err := checkBounds(w.node, body); err != nil {
		de := err.(*DecodeError)
		de.SchemaID, de.Type = id, w.name
		return nil, w.name, de
	}
	if v, ok := s.decodeCompiled(w, body); ok {
		return v, w.name, nil
	}
	return s.decodeGeneric(id, w, body)
}

// decodeGeneric decodes body through goavro's native form, resolving the writer's schema
// against the reader's.
func (s *Serde) decodeGeneric(id int, w *writerSchema, body []byte) (Named, string, error) {
	native, rest, err := w.codec.NativeFromBinary(body)
	if err != nil {
		return nil, w.name, &DecodeError{Kind: KindTruncated, SchemaID: id, Type: w.name, Err: err}
	}
	if len(rest) != 0 {
		return nil, w.name, &DecodeError{Kind: KindTypeMismatch, SchemaID: id, Type: w.name, Err: fmt.Errorf("%d bytes left after the record", len(rest))}
	}
	r, err := s.reader(w.name)
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			de.SchemaID = id
		}
		return nil, w.name, err
	}
	s.mu.RLock()
	t, ok := s.types[w.name]
	s.mu.RUnlock()
	if !ok {
		return nil, w.name, &DecodeError{Kind: KindUnknownType, SchemaID: id, Type: w.name, Err: errors.New("no Go type for this record")}
	}
	ptr := reflect.New(t)
	if err := fromNative(native, r.node, ptr.Elem()); err != nil {
		return nil, w.name, &DecodeError{Kind: KindTypeMismatch, SchemaID: id, Type: w.name, Err: err}
	}
	return ptr.Elem().Interface().(Named), w.name, nil
}

// sameShapes caches sameShape per (writer, reader) schema pair.
var sameShapes sync.Map // [2]*node → bool

// decodeCompiled decodes body with the compiled plan when the writer's schema is the reader's
// (the common case); ok is false when there is no plan or the plan refuses the bytes, and the
// generic path then decodes them (or reports goavro's error).
func (s *Serde) decodeCompiled(w *writerSchema, body []byte) (Named, bool) {
	s.mu.RLock()
	r, t := s.readers[w.name], s.types[w.name]
	s.mu.RUnlock()
	if r == nil || t == nil {
		return nil, false
	}
	pair := [2]*node{w.node, r.node}
	same, ok := sameShapes.Load(pair)
	if !ok {
		same = sameShape(w.node, r.node)
		sameShapes.Store(pair, same)
	}
	if !same.(bool) {
		return nil, false
	}
	dec := compiledDecoder(t, r.node)
	if dec == nil {
		return nil, false
	}
	ptr := reflect.New(t)
	rest, err := dec(body, ptr.Elem())
	if err != nil || len(rest) != 0 {
		return nil, false
	}
	v, ok := ptr.Elem().Interface().(Named)
	return v, ok
}

func (s *Serde) reader(name string) (*readerSchema, error) {
	s.mu.RLock()
	r, ok := s.readers[name]
	s.mu.RUnlock()
	if !ok {
		return nil, &DecodeError{Kind: KindUnknownType, Type: name, Err: errors.New("no shipped schema for this record")}
	}
	return r, nil
}

func (s *Serde) idOf(name string, r *readerSchema) (int, error) {
	s.mu.RLock()
	id := r.id
	s.mu.RUnlock()
	if id != 0 {
		return id, nil
	}
	id, err := s.reg.IDOf(r.subject, r.text)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, &DecodeError{Kind: KindNotRegistered, Type: name,
				Err: fmt.Errorf("%w; run `orderflow schemas apply`", err)}
		}
		return 0, err
	}
	s.mu.Lock()
	r.id = id
	s.mu.Unlock()
	return id, nil
}

func (s *Serde) writer(id int) (*writerSchema, error) {
	s.mu.RLock()
	w, ok := s.writers[id]
	s.mu.RUnlock()
	if ok {
		return w, nil
	}
	text, err := s.reg.SchemaText(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, &DecodeError{Kind: KindUnknownSchemaID, SchemaID: id, Err: err}
		}
		var de *DecodeError
		if errors.As(err, &de) {
			de.SchemaID = id
			return nil, de
		}
		return nil, &DecodeError{Kind: KindRegistryUnavailable, SchemaID: id, Err: err}
	}
	name, err := schemas.FullName(text)
	if err != nil {
		return nil, &DecodeError{Kind: KindTypeMismatch, SchemaID: id, Err: err}
	}
	c, err := goavro.NewCodec(text)
	if err != nil {
		return nil, &DecodeError{Kind: KindTypeMismatch, SchemaID: id, Type: name, Err: err}
	}
	n, err := parseSchema(text)
	if err != nil {
		return nil, &DecodeError{Kind: KindTypeMismatch, SchemaID: id, Type: name, Err: err}
	}
	w = &writerSchema{name: name, node: n, codec: c}
	s.mu.Lock()
	s.writers[id] = w
	s.mu.Unlock()
	return w, nil
}
