package codec

import (
	"encoding/json"
	"fmt"
	"strings"
)

// node is a parsed Avro schema, enough to map Go values to goavro's native form and to resolve
// a writer's data against a reader schema.
type node struct {
	Type     string // record, enum, array, map, union, fixed, or a primitive
	Logical  string
	Name     string // full name of named types
	Fields   []field
	Symbols  []string
	EnumDef  string // enum default symbol ("" when none)
	Items    *node  // array items, map values
	Size     int    // bytes of a fixed
	Branches []*node
}

type field struct {
	Name       string
	Type       *node
	Default    json.RawMessage
	HasDefault bool
}

// parseSchema parses schema JSON into a node tree, resolving references to named types.
func parseSchema(text string) (*node, error) {
	var raw any
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	p := &parser{named: map[string]*node{}}
	return p.parse(raw, "")
}

type parser struct{ named map[string]*node }

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func (p *parser) parse(raw any, ns string) (*node, error) {
	switch v := raw.(type) {
	case string:
		switch v {
		case "null", "boolean", "int", "long", "float", "double", "bytes", "string":
			return &node{Type: v}, nil
		}
		if n, ok := p.named[fullName(v, ns)]; ok {
			return n, nil
		}
		if n, ok := p.named[v]; ok {
			return n, nil
		}
		return nil, fmt.Errorf("unknown type %q", v)
	case []any:
		u := &node{Type: "union"}
		for _, b := range v {
			bn, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			u.Branches = append(u.Branches, bn)
		}
		return u, nil
	case map[string]any:
		typ, _ := v["type"].(string)
		if typ == "" {
			// {"type": {...}} or {"type": [...]}: a wrapped type
			return p.parse(v["type"], ns)
		}
		logical, _ := v["logicalType"].(string)
		switch typ {
		case "record", "error", "enum", "fixed":
			name, _ := v["name"].(string)
			if nsv, ok := v["namespace"].(string); ok && nsv != "" && !strings.Contains(name, ".") {
				ns = nsv
			}
			full := fullName(name, ns)
			if i := strings.LastIndex(full, "."); i >= 0 {
				ns = full[:i]
			}
			n := &node{Type: typ, Name: full, Logical: logical}
			if typ == "error" {
				n.Type = "record"
			}
			p.named[full] = n
			switch typ {
			case "fixed":
				size, _ := v["size"].(float64)
				n.Size = int(size)
			case "enum":
				for _, s := range v["symbols"].([]any) {
					n.Symbols = append(n.Symbols, s.(string))
				}
				n.EnumDef, _ = v["default"].(string)
			case "record", "error":
				fs, _ := v["fields"].([]any)
				for _, fr := range fs {
					fm, ok := fr.(map[string]any)
					if !ok {
						return nil, fmt.Errorf("record %s: malformed field", full)
					}
					ft, err := p.parse(fm["type"], ns)
					if err != nil {
						return nil, fmt.Errorf("record %s field %v: %w", full, fm["name"], err)
					}
					f := field{Name: fm["name"].(string), Type: ft}
					if d, ok := fm["default"]; ok {
						f.HasDefault = true
						f.Default, _ = json.Marshal(d)
					}
					n.Fields = append(n.Fields, f)
				}
			}
			return n, nil
		case "array":
			items, err := p.parse(v["items"], ns)
			if err != nil {
				return nil, err
			}
			return &node{Type: "array", Items: items}, nil
		case "map":
			values, err := p.parse(v["values"], ns)
			if err != nil {
				return nil, err
			}
			return &node{Type: "map", Items: values}, nil
		default:
			n, err := p.parse(typ, ns)
			if err != nil {
				return nil, err
			}
			if logical == "" {
				return n, nil
			}
			cp := *n
			cp.Logical = logical
			return &cp, nil
		}
	}
	return nil, fmt.Errorf("unsupported schema element %T", raw)
}

// branchName is the name goavro uses for a union branch.
func (n *node) branchName() string {
	switch {
	case n.Name != "":
		return n.Name
	case n.Logical != "":
		return n.Type + "." + n.Logical
	default:
		return n.Type
	}
}

// nullable returns the non-null branch of a ["null", X] union.
func (n *node) nullable() (*node, bool) {
	if n.Type != "union" || len(n.Branches) != 2 {
		return nil, false
	}
	switch {
	case n.Branches[0].Type == "null":
		return n.Branches[1], true
	case n.Branches[1].Type == "null":
		return n.Branches[0], true
	}
	return nil, false
}
