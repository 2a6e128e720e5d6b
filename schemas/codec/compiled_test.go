package codec

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/orderflow/orderflow/schemas"
)

// randomValue fills a value of type t for schema n with random content: nil or set optionals,
// empty or several array items, empty strings, enum symbols including the Go zero value, and
// times before 1970 and with sub-millisecond parts.
func randomValue(r *rand.Rand, t reflect.Type, n *node) reflect.Value {
	v := reflect.New(t).Elem()
	if inner, ok := n.nullable(); ok {
		if t.Kind() == reflect.Pointer {
			if r.IntN(3) > 0 {
				p := reflect.New(t.Elem())
				p.Elem().Set(randomValue(r, t.Elem(), inner))
				v.Set(p)
			}
			return v
		}
		return randomValue(r, t, inner)
	}
	switch n.Type {
	case "record":
		idx := structFields(t)
		for _, f := range n.Fields {
			i := idx[f.Name]
			v.Field(i).Set(randomValue(r, t.Field(i).Type, f.Type))
		}
	case "array":
		s := reflect.MakeSlice(t, r.IntN(4), 4)
		for i := range s.Len() {
			s.Index(i).Set(randomValue(r, t.Elem(), n.Items))
		}
		v.Set(s)
	case "enum":
		if i := r.IntN(len(n.Symbols) + 1); i < len(n.Symbols) {
			v.SetString(n.Symbols[i])
		} else if n.EnumDef != "" {
			v.SetString("") // the zero value encodes as the default symbol
		} else {
			v.SetString(n.Symbols[0])
		}
	case "string":
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		v.SetString(string(b))
	case "boolean":
		v.SetBool(r.IntN(2) == 1)
	case "int":
		v.SetInt(int64(r.Int32()) - int64(r.Int32()))
	case "long":
		if t == timeType {
			v.Set(reflect.ValueOf(time.Unix(r.Int64N(1<<35)-1<<34, r.Int64N(1e9)).In(time.FixedZone("x", 3600))))
		} else {
			v.SetInt(int64(r.Uint64()))
		}
	}
	return v
}

// The compiled path writes goavro's bytes and reads goavro's values, for every shipped record
// type, on 300 random values of each.
func TestCompiledPathMatchesGoavro(t *testing.T) {
	s, _ := newTestSerde(t)
	r := rand.New(rand.NewPCG(1, 2))
	for _, typ := range schemas.Types() {
		name := typ.AvroName()
		rs, err := s.reader(name)
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.idOf(name, rs)
		if err != nil {
			t.Fatal(err)
		}
		w, err := s.writer(id)
		if err != nil {
			t.Fatal(err)
		}
		gt := reflect.TypeOf(typ)
		enc := compiledEncoder(gt, rs.node)
		if enc == nil || compiledDecoder(gt, rs.node) == nil {
			t.Fatalf("%s: no compiled plan: the hot path would fall back to goavro's maps", name)
		}
		for range 300 {
			v := randomValue(r, gt, rs.node).Interface().(Named)
			fast, err := enc(Frame(id, nil), reflect.ValueOf(v))
			if err != nil {
				t.Fatalf("%s: the compiled encoder refused %+v: %v", name, v, err)
			}
			slow, err := encodeGeneric(id, rs, v)
			if err != nil {
				t.Fatalf("%s: goavro encode: %v", name, err)
			}
			if !bytes.Equal(fast, slow) {
				t.Fatalf("%s: compiled bytes differ from goavro's\n got %x\nwant %x\nvalue %+v", name, fast, slow, v)
			}
			got, ok := s.decodeCompiled(w, fast[headerLen:])
			if !ok {
				t.Fatalf("%s: the compiled decoder refused goavro's bytes %x", name, fast)
			}
			want, _, err := s.decodeGeneric(id, w, fast[headerLen:])
			if err != nil {
				t.Fatalf("%s: goavro decode: %v", name, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: compiled decode differs from goavro's\n got %+v\nwant %+v", name, got, want)
			}
		}
	}
}

// Whatever the bytes, the compiled decoder accepts only what goavro accepts, and reads the same.
func FuzzCompiledDecodeMatchesGoavro(f *testing.F) {
	s := fuzzSeeded(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		id, body, err := Unframe(data)
		if err != nil {
			return
		}
		w, err := s.writer(id)
		if err != nil || checkBounds(w.node, body) != nil {
			return
		}
		got, ok := s.decodeCompiled(w, body)
		want, _, err := s.decodeGeneric(id, w, body)
		switch {
		case ok && err != nil:
			t.Fatalf("compiled decoder accepted %x, goavro refused it: %v", body, err)
		case ok && !reflect.DeepEqual(got, want):
			t.Fatalf("compiled decode differs from goavro's\n got %+v\nwant %+v", got, want)
		}
	})
}

// An event written with an older schema (a writer unlike the reader) is not read by the compiled
// plan: it goes through goavro's resolution, which fills the reader's defaults.
func TestCompiledPathLeavesResolutionToGoavro(t *testing.T) {
	old := `{"type":"record","name":"OrderStatusChanged","namespace":"orderflow.events","fields":[
		{"name":"order_id","type":"string"}]}`
	wn, err := parseSchema(old)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newTestSerde(t)
	rs, _ := s.reader("orderflow.events.OrderStatusChanged")
	if sameShape(wn, rs.node) {
		t.Fatal("a writer schema with fewer fields has the reader's shape")
	}
	if !sameShape(rs.node, rs.node) {
		t.Fatal("a schema does not have its own shape")
	}
}

func BenchmarkEncodeOrderStatus(b *testing.B) {
	s, _ := newTestSerde(b)
	v := samples()[len(samples())-1]
	for b.Loop() {
		if _, err := s.Encode(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOrderStatus(b *testing.B) {
	s, _ := newTestSerde(b)
	data, err := s.Encode(samples()[len(samples())-1])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
