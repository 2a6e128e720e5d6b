package codec

import (
	"os"
	"testing"

	"github.com/orderflow/orderflow/schemas"
)

// v1 of OrderPlaced lacks sales_channel. Bytes a v1 producer wrote decode with today's code, the
// missing field taking its default: the upcasting path.
func TestV1OrderPlacedDecodesWithCurrentCode(t *testing.T) {
	v1Text, err := os.ReadFile("../testdata/v1/order_placed.avsc")
	if err != nil {
		t.Fatal(err)
	}
	v1 := schemas.Schema{File: "v1/order_placed.avsc", Name: "orderflow.events.OrderPlaced",
		Subject: "orderflow.events.OrderPlaced", Text: string(v1Text)}

	current, reg := newTestSerde(t)
	reg.Register(v1.Subject, v1.Text)
	oldProducer, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := oldProducer.WithSchema(v1); err != nil {
		t.Fatal(err)
	}

	placed := samples()[0].(schemas.OrderPlaced)
	data, err := oldProducer.Encode(placed) // v1 has no sales_channel: it is not written
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeInto[schemas.OrderPlaced](current, data)
	if err != nil {
		t.Fatalf("current code cannot read a v1 event: %v", err)
	}
	if got.Channel != schemas.ChannelUnknown {
		t.Errorf("sales_channel of a v1 event = %q, want the default %q", got.Channel, schemas.ChannelUnknown)
	}
	placed.Channel = schemas.ChannelUnknown
	if got.OrderID != placed.OrderID || got.TotalMinor != placed.TotalMinor || len(got.Lines) != 2 {
		t.Errorf("v1 fields lost: got %+v", got)
	}
}

// An enum symbol the reader does not know reads as the enum's default symbol.
func TestUnknownEnumSymbolReadsAsDefault(t *testing.T) {
	newer := `{"type":"record","name":"PaymentDeclined","namespace":"orderflow.events","fields":[
	  {"name":"metadata","type":{"type":"record","name":"Metadata","fields":[
	    {"name":"event_id","type":"string"},{"name":"event_type","type":"string"},
	    {"name":"occurred_at","type":{"type":"long","logicalType":"timestamp-millis"}},
	    {"name":"order_id","type":["null","string"],"default":null},{"name":"correlation_id","type":"string"},
	    {"name":"causation_id","type":["null","string"],"default":null}]}},
	  {"name":"order_id","type":"string"},{"name":"amount_minor","type":"long"},{"name":"currency","type":"string"},
	  {"name":"reason","type":{"type":"enum","name":"DeclineReason","symbols":["UNKNOWN","AMOUNT_OVER_LIMIT","CUSTOMER_DENIED","FRAUD_SUSPECTED"],"default":"UNKNOWN"}},
	  {"name":"detail","type":"string","default":""}]}`
	current, reg := newTestSerde(t)
	reg.Register("orderflow.events.PaymentDeclined", newer)
	newProducer, _ := New(reg)
	if err := newProducer.WithSchema(schemas.Schema{Name: "orderflow.events.PaymentDeclined", Subject: "orderflow.events.PaymentDeclined", Text: newer}); err != nil {
		t.Fatal(err)
	}
	v := samples()[2].(schemas.PaymentDeclined)
	v.Reason = "FRAUD_SUSPECTED"
	data, err := newProducer.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeInto[schemas.PaymentDeclined](current, data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reason != schemas.DeclineUnknown {
		t.Errorf("reason = %q, want the default %q", got.Reason, schemas.DeclineUnknown)
	}
}
