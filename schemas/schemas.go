// Package schemas holds orderflow's event contracts: the Avro schemas (*.avsc, embedded) and the
// Go type of each event. The codec subpackage turns these types into Confluent wire-format
// bytes and back; the gate subpackage registers the schemas and enforces compatibility.
//
// Subject naming: RecordNameStrategy — the subject is the record's full name
// (e.g. orderflow.events.PaymentDeclined), so several event types can share one topic in the
// order that matters, and an event type keeps one compatibility history wherever it is written.
// See README.md in this directory.
package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed *.avsc
var files embed.FS

// Namespace of every orderflow event record.
const Namespace = "orderflow.events"

// Schema is one shipped Avro schema.
type Schema struct {
	File    string // e.g. order_placed.avsc
	Name    string // full record name, e.g. orderflow.events.OrderPlaced
	Subject string // registry subject (RecordNameStrategy: the full record name)
	Text    string // the .avsc content
}

// All returns the shipped schemas sorted by subject.
func All() ([]Schema, error) { return Load(files) }

// Load reads every *.avsc at the root of fsys.
func Load(fsys fs.FS) ([]Schema, error) {
	names, err := fs.Glob(fsys, "*.avsc")
	if err != nil {
		return nil, err
	}
	var out []Schema
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", n, err)
		}
		full, err := FullName(string(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, Schema{File: n, Name: full, Subject: SubjectFor(full), Text: string(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subject < out[j].Subject })
	return out, nil
}

// Lookup returns the shipped schema of a full record name.
func Lookup(fullName string) (Schema, error) {
	all, err := All()
	if err != nil {
		return Schema{}, err
	}
	for _, s := range all {
		if s.Name == fullName {
			return s, nil
		}
	}
	return Schema{}, fmt.Errorf("no shipped schema for %s", fullName)
}

// SubjectFor applies the project's subject naming strategy (RecordNameStrategy).
func SubjectFor(fullName string) string { return fullName }

// FullName returns namespace.name of a record schema.
func FullName(schemaText string) (string, error) {
	var s struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	}
	if err := json.Unmarshal([]byte(schemaText), &s); err != nil {
		return "", fmt.Errorf("schema is not JSON: %w", err)
	}
	if s.Type != "record" || s.Name == "" {
		return "", fmt.Errorf("top-level schema must be a named record")
	}
	if s.Namespace == "" {
		return s.Name, nil
	}
	return s.Namespace + "." + s.Name, nil
}
