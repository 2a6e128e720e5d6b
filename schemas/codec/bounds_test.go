package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/orderflow/orderflow/schemas"
)

// orderBodies returns a valid OrderPlaced (two lines) on the wire, and its Avro body cut around
// the lines array: body = prefix + count 2 + items + end of array + rest.
func orderBodies(t *testing.T, s *Serde) (good []byte, id int, prefix, items, rest []byte) {
	t.Helper()
	o := samples()[0].(schemas.OrderPlaced)
	good, err := s.Encode(o)
	if err != nil {
		t.Fatal(err)
	}
	o.Lines = nil
	empty, err := s.Encode(o)
	if err != nil {
		t.Fatal(err)
	}
	id = int(binary.BigEndian.Uint32(good[1:5]))
	full, none := good[5:], empty[5:]
	i := 0
	for full[i] == none[i] {
		i++
	}
	if full[i] != 0x04 || none[i] != 0x00 {
		t.Fatalf("test premise: lines count at byte %d is 0x%02x, want 0x04 (2 lines)", i, full[i])
	}
	n := len(full) - len(none) - 1
	return good, id, full[:i], full[i+1 : i+1+n], none[i+1:]
}

func varint(v int64) []byte { return binary.AppendVarint(nil, v) } // zig-zag, as Avro

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// Hostile payloads of about 90 bytes that once made goavro allocate gigabytes are rejected with a
// kind, quickly, with bounded memory.
func TestHostilePayloadsAreBounded(t *testing.T) {
	s, _ := newTestSerde(t)
	good, id, prefix, items, rest := orderBodies(t, s)
	body := good[5:]
	cases := []struct {
		name string
		data []byte
		want Kind
	}{
		{"lines count 2^31-1", Frame(id, cat(prefix, varint(math.MaxInt32), items, []byte{0}, rest)), KindOversized},
		{"lines count 2^62", Frame(id, cat(prefix, varint(1<<62), items, []byte{0}, rest)), KindOversized},
		{"lines count beyond the bytes left", Frame(id, cat(prefix, varint(1000), items, []byte{0}, rest)), KindTruncated},
		{"negative lines count 2^31-1 with a block size", Frame(id, cat(prefix, varint(-math.MaxInt32), varint(int64(len(items))), items, []byte{0}, rest)), KindOversized},
		{"lines count MinInt64", Frame(id, cat(prefix, varint(math.MinInt64), varint(0), rest)), KindOversized},
		{"block size beyond the bytes left", Frame(id, cat(prefix, varint(-2), varint(1<<40), items, []byte{0}, rest)), KindTruncated},
		{"event_id length 2^31-1", Frame(id, cat(varint(math.MaxInt32), body[1:])), KindOversized},
		{"event_id length beyond the bytes left", Frame(id, cat(varint(500), body[1:])), KindTruncated},
		{"negative event_id length", Frame(id, cat(varint(-5), body[1:])), KindTruncated},
		{"union index out of range", Frame(id, cat(prefix[:bytes.Index(prefix, []byte{0x02, 0x06, 'o', '-', '1'})], []byte{0x08}, []byte("o-1"))), KindTruncated},
		{"varint longer than 10 bytes", Frame(id, cat(prefix, bytes.Repeat([]byte{0xff}, 11))), KindTruncated},
		{"payload over MaxPayload", Frame(id, make([]byte, MaxPayload)), KindOversized},
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for _, tc := range cases {
		for range 20 {
			_, err := s.Decode(tc.data)
			if KindOf(err) != tc.want {
				t.Fatalf("%s: err = %v, want kind %s", tc.name, err, tc.want)
			}
			wantID := id
			if len(tc.data) > MaxPayload {
				wantID = 0 // rejected before the header is read
			}
			var de *DecodeError
			if _, err := DecodeInto[schemas.OrderPlaced](s, tc.data); !errors.As(err, &de) || de.Kind != tc.want || de.SchemaID != wantID {
				t.Fatalf("%s: DecodeInto err = %v, want kind %s with schema id %d", tc.name, err, tc.want, wantID)
			}
		}
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("decoding %d hostile payloads allocated %d MiB, want < 64", 40*len(cases), alloc>>20)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("decoding hostile payloads took %s", d)
	}
	// The valid payload still decodes, and so does its lines array written as one block with a
	// negative count and a byte size (legal Avro that other encoders produce).
	for name, data := range map[string][]byte{
		"as encoded":      good,
		"negative count":  Frame(id, cat(prefix, varint(-2), varint(int64(len(items))), items, []byte{0}, rest)),
		"one item blocks": Frame(id, cat(prefix, varint(1), items[:len(items)/2], varint(1), items[len(items)/2:], []byte{0}, rest)),
	} {
		got, err := DecodeInto[schemas.OrderPlaced](s, data)
		if err != nil || !reflect.DeepEqual(got, samples()[0]) {
			t.Errorf("%s: %+v, %v; want the sample back", name, got, err)
		}
	}
}

// Every prefix of a valid payload is a truncated payload, never a panic or a big allocation.
func TestEveryTruncationIsTruncated(t *testing.T) {
	s, _ := newTestSerde(t)
	for _, v := range samples() {
		data, err := s.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		for k := range len(data) {
			if _, err := s.Decode(data[:k]); KindOf(err) != KindTruncated {
				t.Fatalf("%s cut to %d of %d bytes: err = %v, want %s", v.AvroName(), k, len(data), err, KindTruncated)
			}
		}
	}
}

// The second line of defence: goavro itself refuses huge counts and lengths (limits set in
// this package's init), should a path ever reach it without checkBounds.
func TestGoavroLimitsAreSet(t *testing.T) {
	if goavro.MaxBlockCount != MaxBlockCount || goavro.MaxBlockSize != MaxPayload {
		t.Fatalf("goavro limits %d/%d, want %d/%d", goavro.MaxBlockCount, goavro.MaxBlockSize, MaxBlockCount, MaxPayload)
	}
	s, _ := newTestSerde(t)
	_, id, prefix, items, rest := orderBodies(t, s)
	w, err := s.writer(id)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		"array count": cat(prefix, varint(math.MaxInt32), items, []byte{0}, rest),
		"string size": cat(varint(math.MaxInt32), prefix[1:]),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, _, err := w.codec.NativeFromBinary(body); err == nil {
			t.Errorf("%s: goavro decoded a hostile body", name)
		}
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
			t.Errorf("%s: goavro allocated %d MiB", name, alloc>>20)
		}
	}
}

// Maps, zero-width items and recursion are not in orderflow's schemas today; checkBounds bounds
// them anyway.
func TestCheckBoundsOtherShapes(t *testing.T) {
	parse := func(text string) *node {
		n, err := parseSchema(text)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	m := parse(`{"type":"record","name":"M","fields":[{"name":"m","type":{"type":"map","values":"long"}}]}`)
	c, err := goavro.NewCodec(`{"type":"record","name":"M","fields":[{"name":"m","type":{"type":"map","values":"long"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	valid, err := c.BinaryFromNative(nil, map[string]any{"m": map[string]any{"a": int64(1), "bb": int64(-2)}})
	if err != nil {
		t.Fatal(err)
	}
	nulls := parse(`{"type":"record","name":"N","fields":[{"name":"n","type":{"type":"array","items":"null"}}]}`)
	list := parse(`{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`)
	cases := []struct {
		name string
		n    *node
		body []byte
		want Kind // "" valid
	}{
		{"valid map", m, valid, ""},
		{"map count 2^31-1", m, cat(varint(math.MaxInt32), []byte{2, 'a', 2, 0}), KindOversized},
		{"map count beyond the bytes left", m, cat(varint(3), []byte{2, 'a', 2, 0}), KindTruncated},
		{"map key length 2^31-1", m, cat(varint(1), varint(math.MaxInt32), []byte{'a', 2, 0}), KindOversized},
		{"a thousand nulls", nulls, cat(varint(1000), []byte{0}), ""},
		{"a million nulls", nulls, cat(varint(1<<20), []byte{0}), KindOversized},
		{"nulls in many blocks", nulls, cat(bytes.Repeat(varint(1<<15), 3), []byte{0}), KindOversized},
		{"list of 10", list, cat(bytes.Repeat([]byte{2}, 10), []byte{0}), ""},
		{"list of 1000", list, cat(bytes.Repeat([]byte{2}, 1000), []byte{0}), KindOversized},
	}
	for _, tc := range cases {
		err := checkBounds(tc.n, tc.body)
		if KindOf(err) != tc.want || (tc.want == "" && err != nil) {
			t.Errorf("%s: err = %v, want kind %q", tc.name, err, tc.want)
		}
	}
}
