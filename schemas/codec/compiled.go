package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
)

// The compiled path writes and reads Avro binary straight between a Go value and the bytes, for
// the common case: a record written with the very schema the reader holds. goavro's generic path
// goes through a map[string]any per record and a []any per array (toNative / fromNative), which
// was most of the cost of encoding and decoding on the hot path (and of the garbage collector's
// work). The compiled path must give exactly goavro's bytes and values: anything it cannot
// compile (an unusual Go type, a recursive schema), a writer schema that differs from the
// reader's, and every payload it refuses fall back to the generic path, so errors (and the
// dead-letter reasons made from them) stay goavro's. codec's tests check both paths agree on
// every shipped type, on random values and on fuzzed bytes.

type (
	encodeFn func(buf []byte, rv reflect.Value) ([]byte, error)
	decodeFn func(buf []byte, rv reflect.Value) ([]byte, error)
)

type planKey struct {
	t reflect.Type
	n *node
}

// plans caches compiled encoders and decoders per (Go type, schema node); a nil entry records
// that the pair does not compile.
var encoders, decoders sync.Map // planKey → encodeFn / decodeFn

var errNoPlan = errors.New("no compiled plan")

func compiledEncoder(t reflect.Type, n *node) encodeFn {
	k := planKey{t, n}
	if f, ok := encoders.Load(k); ok {
		return f.(encodeFn)
	}
	f, err := compileEncoder(t, n, map[*node]bool{})
	if err != nil {
		f = nil
	}
	encoders.Store(k, f)
	return f
}

func compiledDecoder(t reflect.Type, n *node) decodeFn {
	k := planKey{t, n}
	if f, ok := decoders.Load(k); ok {
		return f.(decodeFn)
	}
	f, err := compileDecoder(t, n, map[*node]bool{})
	if err != nil {
		f = nil
	}
	decoders.Store(k, f)
	return f
}

func appendLong(buf []byte, v int64) []byte { return binary.AppendVarint(buf, v) } // zig-zag, as Avro

var errShort = errors.New("short buffer")

// readLong reads a zig-zag varint exactly as goavro's longNativeFromBinary does (bits past the
// 64th are dropped, not refused), so that both paths accept the same bytes.
func readLong(buf []byte) (int64, []byte, error) {
	var value uint64
	var shift uint
	for i, b := range buf {
		value |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return int64(value>>1) ^ -int64(value&1), buf[i+1:], nil
		}
		shift += 7
	}
	return 0, nil, errShort
}

// readInt reads an Avro int as goavro's intNativeFromBinary does (wrapping to 32 bits).
func readInt(buf []byte) (int32, []byte, error) {
	var value int
	var shift uint
	for i, b := range buf {
		value |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return int32(value>>1) ^ -int32(value&1), buf[i+1:], nil
		}
		shift += 7
	}
	return 0, nil, errShort
}

// timeOf reads a time.Time field without boxing it on the heap when rv is addressable.
func timeOf(rv reflect.Value) time.Time {
	if rv.CanAddr() {
		return *rv.Addr().Interface().(*time.Time)
	}
	return rv.Interface().(time.Time)
}

func isInt(k reflect.Kind) bool { return k >= reflect.Int && k <= reflect.Int64 }

// goavroInt: the Go integer types goavro encodes (int, int32, int64, unnamed).
func goavroInt(t reflect.Type) bool {
	k := t.Kind()
	return t.PkgPath() == "" && (k == reflect.Int || k == reflect.Int32 || k == reflect.Int64)
}

// unionIndexes returns the branch indexes of null and of the value in the ["null", X] union n.
func unionIndexes(n *node) (null, value int64) {
	if n.Branches[1].Type == "null" {
		return 1, 0
	}
	return 0, 1
}

// compileFields compiles each field of record n: the index of the struct field of t it maps to,
// and compile's plan for it. open holds the records being compiled (a recursive schema has no
// plan).
func compileFields[F any](t reflect.Type, n *node, open map[*node]bool, compile func(reflect.Type, *node, map[*node]bool) (F, error)) ([]int, []F, error) {
	if t.Kind() != reflect.Struct || open[n] {
		return nil, nil, errNoPlan
	}
	open[n] = true
	defer delete(open, n)
	idx := structFields(t)
	fields, plans := make([]int, len(n.Fields)), make([]F, len(n.Fields))
	for j, f := range n.Fields {
		i, ok := idx[f.Name]
		if !ok {
			return nil, nil, errNoPlan
		}
		plan, err := compile(t.Field(i).Type, f.Type, open)
		if err != nil {
			return nil, nil, err
		}
		fields[j], plans[j] = i, plan
	}
	return fields, plans, nil
}

func compileEncoder(t reflect.Type, n *node, open map[*node]bool) (encodeFn, error) {
	if inner, ok := n.nullable(); ok {
		nullIdx, valIdx := unionIndexes(n)
		if t.Kind() == reflect.Pointer {
			elem, err := compileEncoder(t.Elem(), inner, open)
			if err != nil {
				return nil, err
			}
			return func(buf []byte, rv reflect.Value) ([]byte, error) {
				if rv.IsNil() {
					return appendLong(buf, nullIdx), nil
				}
				return elem(appendLong(buf, valIdx), rv.Elem())
			}, nil
		}
		val, err := compileEncoder(t, inner, open)
		if err != nil {
			return nil, err
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) { return val(appendLong(buf, valIdx), rv) }, nil
	}
	switch n.Type {
	case "record":
		fields, encs, err := compileFields(t, n, open, compileEncoder)
		if err != nil {
			return nil, err
		}
		return func(buf []byte, rv reflect.Value) (_ []byte, err error) {
			for j, enc := range encs {
				if buf, err = enc(buf, rv.Field(fields[j])); err != nil {
					return nil, err
				}
			}
			return buf, nil
		}, nil
	case "array":
		if t.Kind() != reflect.Slice {
			return nil, errNoPlan
		}
		item, err := compileEncoder(t.Elem(), n.Items, open)
		if err != nil {
			return nil, err
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			length := int64(rv.Len())
			var done, left int64
			for i := 0; i < rv.Len(); i++ {
				if left == 0 { // blocks as goavro writes them
					left = min(length-done, int64(goavro.MaxBlockCount))
					buf = appendLong(buf, left)
				}
				var err error
				if buf, err = item(buf, rv.Index(i)); err != nil {
					return nil, err
				}
				left--
				done++
			}
			return appendLong(buf, 0), nil
		}, nil
	case "enum":
		if t.Kind() != reflect.String {
			return nil, errNoPlan
		}
		symbols, def := n.Symbols, n.EnumDef
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			s := rv.String()
			if s == "" && def != "" {
				s = def
			}
			i := slices.Index(symbols, s)
			if i < 0 {
				return nil, errNoPlan
			}
			return appendLong(buf, int64(i)), nil
		}, nil
	case "string":
		if t.Kind() != reflect.String || t.Name() != "string" || t.PkgPath() != "" {
			return nil, errNoPlan // goavro takes only a plain string
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			s := rv.String()
			return append(appendLong(buf, int64(len(s))), s...), nil
		}, nil
	case "bytes":
		if t != reflect.TypeOf([]byte(nil)) {
			return nil, errNoPlan
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			b := rv.Bytes()
			return append(appendLong(buf, int64(len(b))), b...), nil
		}, nil
	case "boolean":
		if t.Kind() != reflect.Bool || t.PkgPath() != "" {
			return nil, errNoPlan
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			if rv.Bool() {
				return append(buf, 1), nil
			}
			return append(buf, 0), nil
		}, nil
	case "int":
		if !goavroInt(t) || n.Logical != "" {
			return nil, errNoPlan
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			v := rv.Int()
			if v < math.MinInt32 || v > math.MaxInt32 {
				return nil, errNoPlan
			}
			return appendLong(buf, v), nil
		}, nil
	case "long":
		if n.Logical == "timestamp-millis" && t == timeType {
			return func(buf []byte, rv reflect.Value) ([]byte, error) {
				at := timeOf(rv)
				return appendLong(buf, at.Unix()*1e3+int64(at.Nanosecond()/1e6)), nil
			}, nil
		}
		if !goavroInt(t) || (n.Logical != "" && n.Logical != "timestamp-millis") {
			return nil, errNoPlan
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) { return appendLong(buf, rv.Int()), nil }, nil
	}
	return nil, errNoPlan // float, double, map, fixed, other unions: the generic path
}

func compileDecoder(t reflect.Type, n *node, open map[*node]bool) (decodeFn, error) {
	if inner, ok := n.nullable(); ok {
		nullIdx, valIdx := unionIndexes(n)
		pointer := t.Kind() == reflect.Pointer
		target := t
		if pointer {
			target = t.Elem()
		}
		val, err := compileDecoder(target, inner, open)
		if err != nil {
			return nil, err
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			i, buf, err := readLong(buf)
			switch {
			case err != nil:
				return nil, err
			case i == nullIdx:
				rv.SetZero()
				return buf, nil
			case i != valIdx:
				return nil, fmt.Errorf("union index %d", i)
			case pointer:
				p := reflect.New(target)
				if buf, err = val(buf, p.Elem()); err != nil {
					return nil, err
				}
				rv.Set(p)
				return buf, nil
			}
			return val(buf, rv)
		}, nil
	}
	switch n.Type {
	case "record":
		fields, decs, err := compileFields(t, n, open, compileDecoder)
		if err != nil {
			return nil, err
		}
		return func(buf []byte, rv reflect.Value) (_ []byte, err error) {
			for j, dec := range decs {
				if buf, err = dec(buf, rv.Field(fields[j])); err != nil {
					return nil, err
				}
			}
			return buf, nil
		}, nil
	case "array":
		if t.Kind() != reflect.Slice {
			return nil, errNoPlan
		}
		item, err := compileDecoder(t.Elem(), n.Items, open)
		if err != nil {
			return nil, err
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			rv.Set(reflect.MakeSlice(t, 0, 0)) // an empty array is an empty slice, as fromNative makes it
			for {
				count, rest, err := readLong(buf)
				if err != nil {
					return nil, err
				}
				buf = rest
				if count == 0 {
					break
				}
				if count < 0 { // a block with its size in bytes
					if count == math.MinInt64 {
						return nil, errShort
					}
					count = -count
					if _, buf, err = readLong(buf); err != nil {
						return nil, err
					}
				}
				if count > int64(goavro.MaxBlockCount) || count > int64(len(buf)) { // as goavro; checkBounds refuses these first
					return nil, errShort
				}
				from := rv.Len()
				rv.Grow(int(count))
				rv.SetLen(from + int(count))
				for i := from; i < rv.Len(); i++ {
					if buf, err = item(buf, rv.Index(i)); err != nil {
						return nil, err
					}
				}
			}
			return buf, nil
		}, nil
	case "enum":
		if t.Kind() != reflect.String {
			return nil, errNoPlan
		}
		symbols := n.Symbols
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			i, buf, err := readLong(buf)
			if err != nil {
				return nil, err
			}
			if i < 0 || i >= int64(len(symbols)) {
				return nil, fmt.Errorf("enum index %d", i)
			}
			rv.SetString(symbols[i])
			return buf, nil
		}, nil
	case "string", "bytes":
		if (n.Type == "string" && t.Kind() != reflect.String) || (n.Type == "bytes" && t != reflect.TypeOf([]byte(nil))) {
			return nil, errNoPlan
		}
		str := n.Type == "string"
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			size, buf, err := readLong(buf)
			if err != nil {
				return nil, err
			}
			if size < 0 || size > int64(len(buf)) {
				return nil, errShort
			}
			if str {
				rv.SetString(string(buf[:size]))
			} else {
				rv.SetBytes(slices.Clone(buf[:size]))
			}
			return buf[size:], nil
		}, nil
	case "boolean":
		if t.Kind() != reflect.Bool {
			return nil, errNoPlan
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			if len(buf) == 0 || buf[0] > 1 {
				return nil, errShort
			}
			rv.SetBool(buf[0] == 1)
			return buf[1:], nil
		}, nil
	case "int", "long":
		isLong := n.Type == "long"
		if t == timeType && isLong && (n.Logical == "timestamp-millis" || n.Logical == "") {
			return func(buf []byte, rv reflect.Value) ([]byte, error) {
				ms, buf, err := readLong(buf)
				if err != nil {
					return nil, err
				}
				if rv.CanAddr() { // set in place: reflect.ValueOf would box the time on the heap
					*rv.Addr().Interface().(*time.Time) = time.UnixMilli(ms).UTC()
				} else {
					rv.Set(reflect.ValueOf(time.UnixMilli(ms).UTC()))
				}
				return buf, nil
			}, nil
		}
		if !isInt(t.Kind()) || n.Logical != "" { // goavro gives a logical type's own value (a time), not an integer
			return nil, errNoPlan
		}
		return func(buf []byte, rv reflect.Value) ([]byte, error) {
			var v int64
			var err error
			if isLong {
				v, buf, err = readLong(buf)
			} else {
				var i int32
				i, buf, err = readInt(buf)
				v = int64(i)
			}
			if err != nil {
				return nil, err
			}
			rv.SetInt(v)
			return buf, nil
		}, nil
	}
	return nil, errNoPlan
}

// sameShape reports whether data written with schema w reads, field for field, as schema r:
// then no schema resolution is needed and the compiled decoder of r applies.
func sameShape(w, r *node) bool {
	return sameShapeSeen(w, r, map[[2]*node]bool{})
}

func sameShapeSeen(w, r *node, seen map[[2]*node]bool) bool {
	if w == r {
		return true
	}
	if seen[[2]*node{w, r}] {
		return true
	}
	seen[[2]*node{w, r}] = true
	if w.Type != r.Type || w.Logical != r.Logical || w.Name != r.Name || w.Size != r.Size ||
		!slices.Equal(w.Symbols, r.Symbols) || len(w.Fields) != len(r.Fields) || len(w.Branches) != len(r.Branches) {
		return false
	}
	if (w.Items == nil) != (r.Items == nil) || (w.Items != nil && !sameShapeSeen(w.Items, r.Items, seen)) {
		return false
	}
	for i := range w.Fields {
		if w.Fields[i].Name != r.Fields[i].Name || !sameShapeSeen(w.Fields[i].Type, r.Fields[i].Type, seen) {
			return false
		}
	}
	for i := range w.Branches {
		if !sameShapeSeen(w.Branches[i], r.Branches[i], seen) {
			return false
		}
	}
	return true
}
