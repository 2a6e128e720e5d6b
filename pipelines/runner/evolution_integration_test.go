//go:build integration

package runner_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
	"github.com/orderflow/orderflow/schemas/gate"
)

// Live schema evolution: v1 OrderPlaced events (no sales_channel) already in the topic and v2
// events from the API are both processed by the running pipeline; an incompatible v3 is refused
// by the gate while it runs, and nothing is registered.
func TestIntegrationLiveSchemaEvolution(t *testing.T) {
	p := startPipeline(t)
	p.call("PUT", "/inventory/A", map[string]int64{"available": 100}, nil)
	waitStock(t, p, "A", 100, 0) // the v1 orders below skip the outbox and could beat the stock setting

	// An older producer, registered under a private subject: processors decode by schema id.
	prefix := "itest" + itest.Suffix() + "."
	t.Cleanup(func() { itest.DeleteSubjects(t, p.cfg.RegistryURL, prefix) })
	v1Text, err := os.ReadFile("../../schemas/testdata/v1/order_placed.avsc")
	if err != nil {
		t.Fatal(err)
	}
	v1 := schemas.Schema{File: "order_placed.avsc", Name: "orderflow.events.OrderPlaced", Subject: "orderflow.events.OrderPlaced", Text: string(v1Text)}
	if _, err := gate.New(p.cfg.RegistryURL, gate.WithSubjectPrefix(prefix)).Apply(itest.Context(t, time.Minute), []schemas.Schema{v1}); err != nil {
		t.Fatal(err)
	}
	old, err := codec.New(codec.NewSRClient(p.cfg.RegistryURL), codec.WithSubjectPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if err := old.WithSchema(v1); err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(p.cfg.Brokers, kafka.NewSaramaConfig("itest-v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	var v1Orders []string
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := 0; i < 10; i++ {
		id := uuid.NewString()
		ev := schemas.OrderPlaced{Meta: schemas.Metadata{EventID: uuid.NewString(), EventType: "OrderPlaced", OccurredAt: now, OrderID: &id, CorrelationID: id},
			OrderID: id, CustomerID: fmt.Sprintf("c-v1-%d", i), Currency: "EUR", TotalMinor: 100, PlacedAt: now,
			Lines: []schemas.OrderLine{{SKU: "A", Quantity: 1, UnitPriceMinor: 100}}}
		payload, err := old.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: string(p.topo.OrderEvents()), Key: sarama.StringEncoder(id), Value: sarama.ByteEncoder(payload)}); err != nil {
			t.Fatal(err)
		}
		v1Orders = append(v1Orders, id)
	}
	var v2Orders []string
	for i := 0; i < 10; i++ {
		var created orderResp
		if p.call("POST", "/orders", orderReq{fmt.Sprintf("c-v2-%d", i), "EUR", []item{{"A", 1, 100}}}, &created) != 201 {
			t.Fatal("POST /orders failed")
		}
		v2Orders = append(v2Orders, created.OrderID)
	}
	// the v1 orders never were in the database: the API knows them once the status table does
	// (until then an id neither the table nor the database knows is 404 at once)
	for _, id := range v1Orders {
		if err := itest.Eventually(itest.Context(t, time.Minute), func() error {
			if code := p.call("GET", "/orders/"+id, nil, nil); code != 200 {
				return fmt.Errorf("GET /orders/%s: %d", id, code)
			}
			return nil
		}); err != nil {
			t.Fatalf("v1 order never reached the status table: %v", err)
		}
	}
	for _, id := range append(v1Orders, v2Orders...) {
		var final orderResp
		p.call("GET", "/orders/"+id+"?wait_for=terminal&timeout=60s", nil, &final)
		if final.Status != "SHIPPED" {
			t.Errorf("order %s: %s (timed out %v)", id, final.Status, final.TimedOut)
		}
	}

	// v3 (a field's type changed) is refused while the pipeline runs; nothing is registered.
	g := gate.New(p.cfg.RegistryURL)
	before := versionsCount(t, p.cfg.RegistryURL, "orderflow.events.OrderPlaced")
	v3, err := schemas.Load(os.DirFS("../../schemas/testdata/incompatible/change-field-type"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Apply(itest.Context(t, time.Minute), v3)
	var refused *gate.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("apply of v3: %v, want a refusal", err)
	}
	if after := versionsCount(t, p.cfg.RegistryURL, "orderflow.events.OrderPlaced"); after != before {
		t.Errorf("OrderPlaced went from %d to %d versions: v3 was registered", before, after)
	}
}

func versionsCount(t *testing.T, registryURL, subject string) int {
	var versions []int
	if code := getJSON(registryURL+"/subjects/"+subject+"/versions", &versions); code != 200 {
		t.Fatalf("versions of %s: HTTP %d", subject, code)
	}
	return len(versions)
}

func getJSON(url string, out any) int {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(out)
	return resp.StatusCode
}
