package codec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
)

var timeType = reflect.TypeOf(time.Time{})

// fieldIndexes caches structFields per struct type: it is asked for on every record of every
// encode and decode, and a type's tags never change.
var fieldIndexes sync.Map // reflect.Type → map[string]int

// structFields maps avro tag → struct field index. The map is shared: callers only read it.
func structFields(t reflect.Type) map[string]int {
	if m, ok := fieldIndexes.Load(t); ok {
		return m.(map[string]int)
	}
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("avro"); tag != "" && tag != "-" {
			m[tag] = i
		}
	}
	fieldIndexes.Store(t, m)
	return m
}

// toNative converts a Go value into goavro's native form for schema n.
func toNative(rv reflect.Value, n *node) (any, error) {
	if inner, ok := n.nullable(); ok {
		if rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				return nil, nil
			}
			rv = rv.Elem()
		}
		v, err := toNative(rv, inner)
		if err != nil {
			return nil, err
		}
		return goavro.Union(inner.branchName(), v), nil
	}
	switch n.Type {
	case "record":
		if rv.Kind() != reflect.Struct {
			return nil, fmt.Errorf("record %s needs a struct, got %s", n.Name, rv.Type())
		}
		idx := structFields(rv.Type())
		out := make(map[string]any, len(n.Fields))
		for _, f := range n.Fields {
			i, ok := idx[f.Name]
			if !ok {
				return nil, fmt.Errorf("%s has no field tagged avro:%q", rv.Type(), f.Name)
			}
			v, err := toNative(rv.Field(i), f.Type)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", n.Name, f.Name, err)
			}
			out[f.Name] = v
		}
		return out, nil
	case "array":
		if rv.Kind() != reflect.Slice {
			return nil, fmt.Errorf("array needs a slice, got %s", rv.Type())
		}
		out := make([]any, rv.Len())
		for i := range out {
			v, err := toNative(rv.Index(i), n.Items)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	case "enum":
		s := rv.String()
		if s == "" && n.EnumDef != "" {
			s = n.EnumDef // a Go zero value encodes as the enum's default symbol
		}
		if !slices.Contains(n.Symbols, s) {
			return nil, fmt.Errorf("%q is not a symbol of enum %s", s, n.Name)
		}
		return s, nil
	case "string", "bytes", "boolean", "int", "float", "double":
		return rv.Interface(), nil
	case "long":
		if n.Logical == "timestamp-millis" && rv.Type() == timeType {
			return rv.Interface().(time.Time).UTC(), nil
		}
		return rv.Int(), nil
	}
	return nil, fmt.Errorf("unsupported Avro type %s", n.Type)
}

// fromNative stores goavro's native value (decoded with the writer's schema) into rv according
// to the reader schema n, filling reader defaults for record fields the writer lacked.
func fromNative(native any, n *node, rv reflect.Value) error {
	if inner, ok := n.nullable(); ok {
		native = unwrapUnion(native, inner)
		if native == nil {
			rv.Set(reflect.Zero(rv.Type()))
			return nil
		}
		if rv.Kind() == reflect.Pointer {
			p := reflect.New(rv.Type().Elem())
			if err := fromNative(native, inner, p.Elem()); err != nil {
				return err
			}
			rv.Set(p)
			return nil
		}
		return fromNative(native, inner, rv)
	}
	// A writer union read by a non-union reader: unwrap the branch.
	native = unwrapUnion(native, n)
	switch n.Type {
	case "record":
		m, ok := native.(map[string]any)
		if !ok {
			return fmt.Errorf("record %s: writer value is %T", n.Name, native)
		}
		idx := structFields(rv.Type())
		for _, f := range n.Fields {
			i, ok := idx[f.Name]
			if !ok {
				return fmt.Errorf("%s has no field tagged avro:%q", rv.Type(), f.Name)
			}
			v, present := m[f.Name]
			if !present {
				if !f.HasDefault {
					return fmt.Errorf("%s.%s: the writer's schema lacks this field and the reader's has no default", n.Name, f.Name)
				}
				if err := fromDefault(f.Default, f.Type, rv.Field(i)); err != nil {
					return fmt.Errorf("%s.%s default: %w", n.Name, f.Name, err)
				}
				continue
			}
			if err := fromNative(v, f.Type, rv.Field(i)); err != nil {
				return fmt.Errorf("%s.%s: %w", n.Name, f.Name, err)
			}
		}
		return nil
	case "array":
		items, ok := native.([]any)
		if !ok {
			return fmt.Errorf("array: writer value is %T", native)
		}
		s := reflect.MakeSlice(rv.Type(), len(items), len(items))
		for i, it := range items {
			if err := fromNative(it, n.Items, s.Index(i)); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		rv.Set(s)
		return nil
	case "enum":
		s, ok := native.(string)
		if !ok {
			return fmt.Errorf("enum %s: writer value is %T", n.Name, native)
		}
		if !slices.Contains(n.Symbols, s) {
			if n.EnumDef == "" {
				return fmt.Errorf("enum %s has no symbol %q and no default", n.Name, s)
			}
			s = n.EnumDef
		}
		rv.SetString(s)
		return nil
	case "string":
		s, ok := native.(string)
		if !ok {
			if b, isBytes := native.([]byte); isBytes {
				s = string(b)
			} else {
				return fmt.Errorf("string: writer value is %T", native)
			}
		}
		rv.SetString(s)
		return nil
	case "bytes":
		b, ok := native.([]byte)
		if !ok {
			return fmt.Errorf("bytes: writer value is %T", native)
		}
		rv.SetBytes(slices.Clone(b))
		return nil
	case "boolean":
		b, ok := native.(bool)
		if !ok {
			return fmt.Errorf("boolean: writer value is %T", native)
		}
		rv.SetBool(b)
		return nil
	case "int", "long":
		if rv.Type() == timeType {
			switch t := native.(type) {
			case time.Time:
				rv.Set(reflect.ValueOf(t.UTC()))
			case int64:
				rv.Set(reflect.ValueOf(time.UnixMilli(t).UTC()))
			default:
				return fmt.Errorf("timestamp: writer value is %T", native)
			}
			return nil
		}
		switch v := native.(type) {
		case int32:
			rv.SetInt(int64(v))
		case int64:
			rv.SetInt(v)
		default:
			return fmt.Errorf("%s: writer value is %T", n.Type, native)
		}
		return nil
	case "float", "double":
		switch v := native.(type) {
		case float32:
			rv.SetFloat(float64(v))
		case float64:
			rv.SetFloat(v)
		case int32:
			rv.SetFloat(float64(v))
		case int64:
			rv.SetFloat(float64(v))
		default:
			return fmt.Errorf("%s: writer value is %T", n.Type, native)
		}
		return nil
	}
	return fmt.Errorf("unsupported Avro type %s", n.Type)
}

// fromDefault stores a field's JSON default (Avro's JSON encoding) into rv.
func fromDefault(raw json.RawMessage, n *node, rv reflect.Value) error {
	var v any
	dec := json.NewDecoder(bytesReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	// A union's default belongs to its first branch.
	if n.Type == "union" {
		if v == nil {
			rv.Set(reflect.Zero(rv.Type()))
			return nil
		}
		n = n.Branches[0]
	}
	return fromNative(jsonToNative(v, n), n, rv)
}

// jsonToNative turns a decoded JSON default into the native form fromNative expects.
func jsonToNative(v any, n *node) any {
	switch x := v.(type) {
	case json.Number:
		if n.Type == "float" || n.Type == "double" {
			f, _ := x.Float64()
			return f
		}
		i, _ := x.Int64()
		return i
	case []any:
		out := make([]any, len(x))
		for i, it := range x {
			out[i] = jsonToNative(it, n.Items)
		}
		return out
	case map[string]any:
		if n.Type == "record" {
			out := make(map[string]any, len(x))
			for _, f := range n.Fields {
				if fv, ok := x[f.Name]; ok {
					out[f.Name] = jsonToNative(fv, f.Type)
				}
			}
			return out
		}
	}
	return v
}

// unwrapUnion returns the value inside goavro's union form {"branch": value} when native is one
// whose branch fits the reader type n; any other value is returned as it is.
func unwrapUnion(native any, n *node) any {
	m, ok := native.(map[string]any)
	if !ok || len(m) != 1 {
		return native
	}
	for k, v := range m {
		switch {
		case k == n.branchName() || (n.Name != "" && k == n.Name):
			return v
		case n.Type != "record" && isBranchName(k):
			return v // e.g. a writer's "int" read as a long
		}
	}
	return native
}

func isBranchName(k string) bool {
	switch k {
	case "boolean", "int", "long", "float", "double", "bytes", "string":
		return true
	}
	return len(k) > 5 && (k[:5] == "long." || k[:4] == "int.")
}
