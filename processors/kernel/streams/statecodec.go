package streams

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/lovoo/goka"
)

// A processor's table value is encoded in a compact binary form: a version byte, then fields as
// varints and length-prefixed strings. It is decoded and re-encoded on every input of its key,
// so it must stay cheap and small (JSON cost 40% of the processors' CPU when it was used here).
// Values written by older releases as JSON (first byte '{') are still read.

// stateFormatV1 is the first byte of a binary-encoded Envelope.
const stateFormatV1 byte = 1

// maxStateItems bounds any count read from a table value: a corrupt or hostile value can not
// make the decoder allocate more than the bytes it holds.
const maxStateItems = 1 << 20

// ErrCorruptState is returned for a table value that can not be decoded.
var ErrCorruptState = errors.New("corrupt table value")

// Writer appends the binary encoding of state fields to a buffer.
type Writer struct{ buf []byte }

// Bytes returns the encoding written so far.
func (w *Writer) Bytes() []byte { return w.buf }

// Uvarint writes an unsigned varint.
func (w *Writer) Uvarint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }

// Varint writes a zig-zag varint.
func (w *Writer) Varint(v int64) { w.buf = binary.AppendVarint(w.buf, v) }

// Bool writes one byte, 0 or 1.
func (w *Writer) Bool(b bool) {
	if b {
		w.buf = append(w.buf, 1)
	} else {
		w.buf = append(w.buf, 0)
	}
}

// Fixed64 writes 8 bytes, little-endian (for hashes, which varints would not shorten).
func (w *Writer) Fixed64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

// String writes a length-prefixed string.
func (w *Writer) String(s string) {
	w.Uvarint(uint64(len(s)))
	w.buf = append(w.buf, s...)
}

// Int32Map writes a map in key order (the encoding of a value never depends on map iteration).
func (w *Writer) Int32Map(m map[string]int32) {
	w.Uvarint(uint64(len(m)))
	for _, k := range sortedKeys(m) {
		w.String(k)
		w.Varint(int64(m[k]))
	}
}

// Reader decodes what a Writer wrote. The first error sticks: later reads return zero values
// and Err reports it.
type Reader struct {
	buf []byte
	err error
}

// NewReader reads from b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err is the first decoding error, wrapped in ErrCorruptState.
func (r *Reader) Err() error { return r.err }

func (r *Reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorruptState, what)
	}
	r.buf = nil
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail("bad unsigned varint")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// Varint reads a zig-zag varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// Int32 reads a varint that must fit an int32.
func (r *Reader) Int32() int32 {
	v := r.Varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("int32 out of range")
		return 0
	}
	return int32(v)
}

// Bool reads one byte written by Writer.Bool.
func (r *Reader) Bool() bool {
	if len(r.buf) == 0 {
		r.fail("truncated bool")
		return false
	}
	b := r.buf[0]
	r.buf = r.buf[1:]
	if b > 1 {
		r.fail("bad bool")
	}
	return b == 1
}

// Fixed64 reads what Writer.Fixed64 wrote.
func (r *Reader) Fixed64() uint64 {
	if len(r.buf) < 8 {
		r.fail("truncated fixed64")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.buf)
	r.buf = r.buf[8:]
	return v
}

// String reads a length-prefixed string.
func (r *Reader) String() string {
	n := r.Uvarint()
	if n > uint64(len(r.buf)) {
		r.fail("string longer than the value")
		return ""
	}
	s := string(r.buf[:n])
	r.buf = r.buf[n:]
	return s
}

// Count reads a collection size, refusing one that the remaining bytes could not hold (each
// item takes at least minItemBytes).
func (r *Reader) Count(minItemBytes int) int {
	n := r.Uvarint()
	if n > maxStateItems || n*uint64(max(minItemBytes, 1)) > uint64(len(r.buf)) {
		r.fail("collection larger than the value")
		return 0
	}
	return int(n)
}

// Int32Map reads a map written by Writer.Int32Map (nil when empty).
func (r *Reader) Int32Map() map[string]int32 {
	n := r.Count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]int32, n)
	for range n {
		k := r.String()
		m[k] = r.Int32()
	}
	return m
}

// More reports whether bytes are left: a state's fields added by a later release are written
// after the earlier ones, and a value written before has none of them (they read as zero).
func (r *Reader) More() bool { return r.err == nil && len(r.buf) > 0 }

// Done reports an error if bytes are left over after the value.
func (r *Reader) Done() error {
	if r.err == nil && len(r.buf) > 0 {
		r.fail(fmt.Sprintf("%d bytes after the value", len(r.buf)))
	}
	return r.err
}

// BinaryState is implemented by a pointer to a processor's state type.
type BinaryState[S any] interface {
	*S
	MarshalState(w *Writer)
	UnmarshalState(r *Reader)
}

// StateCodec is the goka.Codec of a processor's group table holding Envelope[S].
type StateCodec[S any, PS BinaryState[S]] struct{}

// Encode implements goka.Codec.
func (StateCodec[S, PS]) Encode(value any) ([]byte, error) {
	env, ok := value.(Envelope[S])
	if !ok {
		return nil, fmt.Errorf("state codec: cannot encode %T", value)
	}
	w := &Writer{buf: make([]byte, 0, 128)}
	w.buf = append(w.buf, stateFormatV1)
	w.Uvarint(uint64(len(env.Offsets)))
	for _, topic := range sortedKeys(env.Offsets) {
		w.String(topic)
		w.Varint(env.Offsets[topic])
	}
	PS(&env.State).MarshalState(w)
	return w.buf, nil
}

// Decode implements goka.Codec.
func (StateCodec[S, PS]) Decode(data []byte) (any, error) {
	var env Envelope[S]
	if len(data) == 0 {
		return nil, fmt.Errorf("state codec: %w: empty value", ErrCorruptState)
	}
	if data[0] == '{' { // written as JSON by an older release
		if err := json.Unmarshal(data, &env); err != nil {
			return nil, fmt.Errorf("state codec: legacy JSON value: %w: %v", ErrCorruptState, err)
		}
		return env, nil
	}
	if data[0] != stateFormatV1 {
		return nil, fmt.Errorf("state codec: %w: unknown format %d", ErrCorruptState, data[0])
	}
	r := NewReader(data[1:])
	if n := r.Count(2); n > 0 {
		env.Offsets = make(map[string]int64, n)
		for range n {
			topic := r.String()
			env.Offsets[topic] = r.Varint()
		}
	}
	PS(&env.State).UnmarshalState(r)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("state codec: %w", err)
	}
	return env, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// PendingDeadlines reads the deadline of a durable processor's table value for the timers
// scheduler (processors/kernel/timers): table decodes values into Envelope[S], and pending says
// the deadline a state has in effect and whether it is still to fire.
func PendingDeadlines[S any](table goka.Codec, pending func(S) (time.Time, bool)) func(key string, value []byte) (time.Time, bool, error) {
	return func(_ string, value []byte) (time.Time, bool, error) {
		v, err := table.Decode(value)
		if err != nil {
			return time.Time{}, false, err
		}
		d, ok := pending(v.(Envelope[S]).State)
		return d, ok, nil
	}
}
