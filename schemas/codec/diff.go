package codec

import (
	"fmt"
	"slices"
)

// Change is one difference between two versions of a schema that matters for compatibility.
type Change struct {
	Path string // e.g. OrderPlaced.lines[].sku
	What string // human-readable description
	// Breaking is true for changes FULL_TRANSITIVE refuses and for changes orderflow refuses on
	// its own (removing an enum symbol: old events would silently turn into the default symbol).
	Breaking bool
	// ProjectRule is true for a change the registry would accept but orderflow refuses.
	ProjectRule bool
}

// Diff lists the changes from oldText to newText that can break readers or writers of either
// version: fields added or removed without a default, changed types, removed enum symbols and
// enum symbols added without a default. It explains the registry's verdict and adds the
// project's own rule (enum symbols are never removed).
func Diff(oldText, newText string) ([]Change, error) {
	oldN, err := parseSchema(oldText)
	if err != nil {
		return nil, fmt.Errorf("old schema: %w", err)
	}
	newN, err := parseSchema(newText)
	if err != nil {
		return nil, fmt.Errorf("new schema: %w", err)
	}
	var out []Change
	diffNode(oldN, newN, shortName(newN), map[[2]*node]bool{}, &out)
	return out, nil
}

func shortName(n *node) string {
	for i := len(n.Name) - 1; i >= 0; i-- {
		if n.Name[i] == '.' {
			return n.Name[i+1:]
		}
	}
	return n.Name
}

func typeLabel(n *node) string {
	if n.Name != "" {
		return n.Type + " " + shortName(n)
	}
	if n.Logical != "" {
		return n.Type + "(" + n.Logical + ")"
	}
	return n.Type
}

// promotable reports Avro's permitted reader promotions (writer → reader).
func promotable(w, r string) bool {
	switch w {
	case "int":
		return r == "long" || r == "float" || r == "double"
	case "long":
		return r == "float" || r == "double"
	case "float":
		return r == "double"
	case "string":
		return r == "bytes"
	case "bytes":
		return r == "string"
	}
	return false
}

func diffNode(o, n *node, path string, seen map[[2]*node]bool, out *[]Change) {
	if seen[[2]*node{o, n}] {
		return
	}
	seen[[2]*node{o, n}] = true
	if o.Type != n.Type {
		// Both directions must read each other (FULL): only symmetric promotions pass.
		if !(promotable(o.Type, n.Type) && promotable(n.Type, o.Type)) {
			*out = append(*out, Change{Path: path, Breaking: true,
				What: fmt.Sprintf("type changed from %s to %s", typeLabel(o), typeLabel(n))})
		}
		return
	}
	switch n.Type {
	case "record":
		oldFields := map[string]field{}
		for _, f := range o.Fields {
			oldFields[f.Name] = f
		}
		for _, f := range n.Fields {
			of, ok := oldFields[f.Name]
			if !ok {
				if !f.HasDefault {
					*out = append(*out, Change{Path: path + "." + f.Name, Breaking: true,
						What: "field added without a default: the new schema cannot read events written before it"})
				}
				continue
			}
			diffNode(of.Type, f.Type, path+"."+f.Name, seen, out)
			delete(oldFields, f.Name)
		}
		for _, f := range o.Fields {
			if _, removed := oldFields[f.Name]; removed && !f.HasDefault {
				*out = append(*out, Change{Path: path + "." + f.Name, Breaking: true,
					What: "field removed although it has no default: readers of the old schema cannot read new events"})
			}
		}
	case "enum":
		for _, s := range o.Symbols {
			if !slices.Contains(n.Symbols, s) {
				*out = append(*out, Change{Path: path, Breaking: true, ProjectRule: true,
					What: fmt.Sprintf("enum %s lost symbol %s: events that carry it would silently read as %q",
						shortName(n), s, n.EnumDef)})
			}
		}
		for _, s := range n.Symbols {
			if !slices.Contains(o.Symbols, s) && o.EnumDef == "" {
				*out = append(*out, Change{Path: path, Breaking: true,
					What: fmt.Sprintf("enum %s gained symbol %s but the old schema has no default symbol", shortName(n), s)})
			}
		}
	case "array", "map":
		diffNode(o.Items, n.Items, path+"[]", seen, out)
	case "union":
		if len(o.Branches) != len(n.Branches) {
			*out = append(*out, Change{Path: path, Breaking: true,
				What: fmt.Sprintf("union changed from %d to %d branches", len(o.Branches), len(n.Branches))})
			return
		}
		for i := range n.Branches {
			diffNode(o.Branches[i], n.Branches[i], path, seen, out)
		}
	}
}
