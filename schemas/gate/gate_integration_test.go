//go:build integration

package gate_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
	"github.com/orderflow/orderflow/schemas/gate"
)

func ctx(t *testing.T) context.Context { return itest.Context(t, 2*time.Minute) }

func loadDir(t *testing.T, dir string) []schemas.Schema {
	t.Helper()
	list, err := schemas.Load(os.DirFS(dir))
	if err != nil || len(list) == 0 {
		t.Fatalf("load %s: %v (%d schemas)", dir, err, len(list))
	}
	return list
}

func shipped(t *testing.T) []schemas.Schema {
	t.Helper()
	list, err := schemas.All()
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// versionsOf counts the versions a subject holds (0 when the subject does not exist).
func versionsOf(t *testing.T, registryURL, subject string) int {
	t.Helper()
	resp, err := http.Get(registryURL + "/subjects/" + subject + "/versions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0
	}
	var versions []int
	if err := json.NewDecoder(resp.Body).Decode(&versions); err != nil {
		t.Fatalf("versions of %s: %v", subject, err)
	}
	return len(versions)
}

// prefix returns a private subject prefix whose subjects are deleted when the test ends.
func prefix(t *testing.T, registryURL string) string {
	p := "itest" + itest.Suffix() + "."
	t.Cleanup(func() { itest.DeleteSubjects(t, registryURL, p) })
	return p
}

func TestIntegrationApplyIsIdempotentAndCheckPasses(t *testing.T) {
	cfg := itest.Stack(t)
	g := gate.New(cfg.RegistryURL, gate.WithSubjectPrefix(prefix(t, cfg.RegistryURL)))
	list := shipped(t)

	first, err := g.Apply(ctx(t), list)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	second, err := g.Apply(ctx(t), list)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, s := range list {
		subj := g.Subject(s)
		if first[subj] == 0 || first[subj] != second[subj] {
			t.Errorf("%s: ids %d then %d, want the same non-zero id", subj, first[subj], second[subj])
		}
		if n := versionsOf(t, cfg.RegistryURL, subj); n != 1 {
			t.Errorf("%s holds %d versions after two applies, want 1", subj, n)
		}
	}
	findings, err := g.Check(ctx(t), list)
	if err != nil || len(findings) != 0 {
		t.Fatalf("check of the shipped schemas: findings %v, err %v", findings, err)
	}
}

// v1 → v2 (new optional field) passes the gate; each incompatible variant is refused by check and
// by apply, naming the subject, with nothing registered.
func TestIntegrationEvolutionGate(t *testing.T) {
	cfg := itest.Stack(t)
	g := gate.New(cfg.RegistryURL, gate.WithSubjectPrefix(prefix(t, cfg.RegistryURL)))

	if _, err := g.Apply(ctx(t), loadDir(t, "../testdata/v1")); err != nil {
		t.Fatalf("apply v1: %v", err)
	}
	if _, err := g.Apply(ctx(t), shipped(t)); err != nil {
		t.Fatalf("v2 of OrderPlaced (new optional field) must pass the gate: %v", err)
	}
	placedSubject := g.Subject(schemas.Schema{Subject: "orderflow.events.OrderPlaced"})
	if n := versionsOf(t, cfg.RegistryURL, placedSubject); n != 2 {
		t.Fatalf("%s holds %d versions, want 2 (v1, v2)", placedSubject, n)
	}

	dirs, _ := filepath.Glob("../testdata/incompatible/*")
	if len(dirs) != 3 {
		t.Fatalf("want 3 incompatible variants, found %v", dirs)
	}
	wantReason := map[string]string{
		"remove-field-without-default": "customer_id: field removed",
		"change-field-type":            "total_minor: type changed from long to string",
		"remove-enum-symbol":           "lost symbol CUSTOMER_DENIED",
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			list := loadDir(t, dir)
			subject := g.Subject(list[0])
			before := versionsOf(t, cfg.RegistryURL, subject)

			findings, err := g.Check(ctx(t), list)
			if err != nil {
				t.Fatal(err)
			}
			if len(findings) != 1 || findings[0].Subject != subject || !strings.Contains(findings[0].Reason, wantReason[name]) {
				t.Fatalf("check findings = %v, want one for %s saying %q", findings, subject, wantReason[name])
			}
			_, err = g.Apply(ctx(t), list)
			var refused *gate.RefusedError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), subject) {
				t.Fatalf("apply = %v, want a refusal naming %s", err, subject)
			}
			if after := versionsOf(t, cfg.RegistryURL, subject); after != before {
				t.Errorf("%s went from %d to %d versions: a refused schema was registered", subject, before, after)
			}
		})
	}
}

// A subject registered without a rule (Apicurio's default: NONE, which accepts anything) does
// not let an incompatible schema pass check.
func TestIntegrationCheckDoesNotTrustMissingRule(t *testing.T) {
	cfg := itest.Stack(t)
	prefix := prefix(t, cfg.RegistryURL)
	v1 := loadDir(t, "../testdata/v1")[0]
	reg := codec.NewSRClient(cfg.RegistryURL)
	if _, err := reg.C.CreateSchema(prefix+v1.Subject, v1.Text, "AVRO"); err != nil {
		t.Fatal(err)
	}
	findings, err := gate.New(cfg.RegistryURL, gate.WithSubjectPrefix(prefix)).Check(ctx(t), loadDir(t, "../testdata/incompatible/change-field-type"))
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || !strings.Contains(findings[0].Reason, "rule is NONE") {
		t.Fatalf("findings = %v, want the missing rule reported", findings)
	}
}

// Bytes written by a v1 producer through the real registry decode with today's code.
func TestIntegrationOldVersionPayloadDecodes(t *testing.T) {
	cfg := itest.Stack(t)
	prefix := prefix(t, cfg.RegistryURL)
	g := gate.New(cfg.RegistryURL, gate.WithSubjectPrefix(prefix))
	v1 := loadDir(t, "../testdata/v1")
	if _, err := g.Apply(ctx(t), v1); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Apply(ctx(t), shipped(t)); err != nil {
		t.Fatal(err)
	}
	oldProducer, err := codec.New(codec.NewSRClient(cfg.RegistryURL), codec.WithSubjectPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if err := oldProducer.WithSchema(v1[0]); err != nil {
		t.Fatal(err)
	}
	current, err := codec.New(codec.NewSRClient(cfg.RegistryURL), codec.WithSubjectPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	placed := schemas.OrderPlaced{
		Meta:    schemas.Metadata{EventID: "5f0b1c2d-0000-4000-8000-000000000001", EventType: "OrderPlaced", OccurredAt: time.UnixMilli(1764000000000).UTC(), CorrelationID: "o-9"},
		OrderID: "o-9", CustomerID: "c-9", Currency: "EUR", TotalMinor: 1299, PlacedAt: time.UnixMilli(1764000000000).UTC(),
		Lines: []schemas.OrderLine{{SKU: "SKU-1", Quantity: 1, UnitPriceMinor: 1299}},
	}
	data, err := oldProducer.Encode(placed)
	if err != nil {
		t.Fatal(err)
	}
	v2Data, err := current.Encode(placed)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:5]) == string(v2Data[:5]) {
		t.Fatal("v1 and v2 payloads carry the same schema id; the test would prove nothing")
	}
	got, err := codec.DecodeInto[schemas.OrderPlaced](current, data)
	if err != nil {
		t.Fatalf("current code cannot read a v1 payload: %v", err)
	}
	if got.Channel != schemas.ChannelUnknown || got.OrderID != "o-9" || got.Lines[0].SKU != "SKU-1" {
		t.Errorf("decoded %+v", got)
	}
}
