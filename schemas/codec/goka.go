package codec

import "fmt"

// GokaCodec adapts a Serde to goka.Codec for one Go type T (e.g. a table's value type).
// Decode errors are returned, never panicked; note that goka itself stops a processor on a codec
// error, so input streams that may carry bad data should use a bytes codec and decode inside the
// callback instead (see processors/).
type GokaCodec[T Named] struct{ Serde *Serde }

// Encode implements goka.Codec.
func (c GokaCodec[T]) Encode(value any) ([]byte, error) {
	v, ok := value.(T)
	if !ok {
		var zero T
		return nil, &DecodeError{Kind: KindTypeMismatch, Type: zero.AvroName(), Err: fmt.Errorf("cannot encode a %T", value)}
	}
	return c.Serde.Encode(v)
}

// Decode implements goka.Codec.
func (c GokaCodec[T]) Decode(data []byte) (any, error) { return DecodeInto[T](c.Serde, data) }

// EventCodec adapts a Serde to goka.Codec for any shipped event type: Decode returns the
// event's Go value chosen by its writer schema (e.g. schemas.PaymentDeclined).
type EventCodec struct{ Serde *Serde }

// Encode implements goka.Codec.
func (c EventCodec) Encode(value any) ([]byte, error) {
	v, ok := value.(Named)
	if !ok {
		return nil, &DecodeError{Kind: KindTypeMismatch, Err: fmt.Errorf("cannot encode a %T: not an Avro record type", value)}
	}
	return c.Serde.Encode(v)
}

// Decode implements goka.Codec.
func (c EventCodec) Decode(data []byte) (any, error) { return c.Serde.Decode(data) }
