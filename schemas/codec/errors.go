package codec

import (
	"errors"
	"fmt"
)

// Kind classifies why a payload could not be decoded or a value encoded.
type Kind string

// Error kinds. KindRegistryUnavailable is transient (retry); every other kind is poison for the
// payload at hand and belongs in a dead-letter topic. KindTruncated covers every malformed Avro
// body (it ends early, a length is negative or claims more bytes than are left, a union index is
// out of range); KindOversized is a payload over MaxPayload, or a length, block count or nesting
// depth beyond the codec's limits (see bounds.go) — never a valid payload.
const (
	KindBadMagic            Kind = "bad_magic_byte"
	KindTruncated           Kind = "truncated_payload"
	KindOversized           Kind = "oversized"
	KindUnknownSchemaID     Kind = "unknown_schema_id"
	KindTypeMismatch        Kind = "type_mismatch"
	KindUnknownType         Kind = "unknown_event_type"
	KindNotRegistered       Kind = "schema_not_registered"
	KindRegistryUnavailable Kind = "registry_unavailable"
)

// DecodeError is returned by every decode and encode path.
type DecodeError struct {
	Kind     Kind
	SchemaID int    // 0 when not known
	Type     string // Avro full name when known
	Err      error
}

func (e *DecodeError) Error() string {
	msg := string(e.Kind)
	if e.SchemaID != 0 {
		msg += fmt.Sprintf(" (schema id %d)", e.SchemaID)
	}
	if e.Type != "" {
		msg += " " + e.Type
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *DecodeError) Unwrap() error { return e.Err }

// KindOf returns the kind of a codec error, or "" for other errors.
func KindOf(err error) Kind {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Kind
	}
	return ""
}

// IsTransient reports whether retrying may succeed (the registry could not be reached).
func IsTransient(err error) bool { return KindOf(err) == KindRegistryUnavailable }
