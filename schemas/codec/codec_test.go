package codec

import (
	"bytes"
	"encoding/hex"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/schemas"
)

// newTestSerde registers every shipped schema in an in-memory registry.
func newTestSerde(t testing.TB) (*Serde, *MemoryRegistry) {
	t.Helper()
	reg := NewMemoryRegistry()
	all, err := schemas.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		reg.Register(s.Subject, s.Text)
	}
	s, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func ptr[T any](v T) *T { return &v }

var at = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func meta(typ string) schemas.Metadata {
	return schemas.Metadata{EventID: "9b2f1f7e-3c1e-4d0e-9a4e-5d1c0f6b7a11", EventType: typ, OccurredAt: at,
		OrderID: ptr("o-1"), CorrelationID: "o-1", CausationID: ptr("1f0c8a4e-2b7d-4c59-8e3a-7d6b5a4c3b2a")}
}

// One value of every shipped type, with every optional field set.
func samples() []Named {
	reason := schemas.CancelOutOfStock
	return []Named{
		schemas.OrderPlaced{Meta: meta("OrderPlaced"), OrderID: "o-1", CustomerID: "c-1", Currency: "EUR",
			Lines:      []schemas.OrderLine{{SKU: "SKU-1", Quantity: 2, UnitPriceMinor: 1299}, {SKU: "SKU-2", Quantity: 1, UnitPriceMinor: 500}},
			TotalMinor: 3098, PlacedAt: at, Channel: schemas.ChannelWeb,
			CustomerName: ptr("pii1.bmFtZQ"), CustomerEmail: ptr("pii1.ZW1haWw"), ShippingAddress: ptr("pii1.YWRkcmVzcw")},
		schemas.PaymentAuthorized{Meta: meta("PaymentAuthorized"), OrderID: "o-1", AmountMinor: 3098, Currency: "EUR"},
		schemas.PaymentDeclined{Meta: meta("PaymentDeclined"), OrderID: "o-1", AmountMinor: 3098, Currency: "EUR",
			Reason: schemas.DeclineAmountOverLimit, Detail: "limit 500000"},
		schemas.PaymentRefunded{Meta: meta("PaymentRefunded"), OrderID: "o-1", AmountMinor: 3098, Currency: "EUR", Reason: "OUT_OF_STOCK"},
		schemas.StockAdjusted{Meta: schemas.Metadata{EventID: "e", EventType: "StockAdjusted", OccurredAt: at, CorrelationID: "SKU-1"}, SKU: "SKU-1", Available: 10},
		schemas.StockReserved{Meta: meta("StockReserved"), OrderID: "o-1", Lines: []schemas.StockLine{{SKU: "SKU-1", Quantity: 2}}},
		schemas.StockRejected{Meta: meta("StockRejected"), OrderID: "o-1", ShortLines: []schemas.ShortLine{{SKU: "SKU-1", Requested: 2, Available: 1}}},
		schemas.StockReleased{Meta: meta("StockReleased"), OrderID: "o-1", Lines: []schemas.StockLine{{SKU: "SKU-1", Quantity: 2}}, Reason: "PAYMENT_DECLINED"},
		schemas.ShipmentCreated{Meta: meta("ShipmentCreated"), OrderID: "o-1", ShipmentID: "s-1", CreatedAt: at},
		schemas.TimerFired{Meta: meta("TimerFired"), Key: "o-1", Deadline: at},
		schemas.OrderTimedOut{Meta: meta("OrderTimedOut"), OrderID: "o-1", PlacedAt: at, Deadline: at.Add(15 * time.Minute)},
		schemas.OrderStatusChanged{Meta: meta("OrderStatusChanged"), OrderID: "o-1", FromStatus: schemas.StatusPlaced,
			ToStatus: schemas.StatusCancelled, Reason: &reason, Version: 2},
		schemas.SkuCommand{Meta: meta("SkuCommand"), SKU: "SKU-1", OrderID: "o-1", Op: schemas.SkuOpHold, Quantity: 2},
		schemas.SkuReply{Meta: meta("SkuReply"), OrderID: "o-1", SKU: "SKU-1", Op: schemas.SkuOpHold, Quantity: 2, Granted: true, Available: 8},
		schemas.ReturnRequested{Meta: meta("ReturnRequested"), OrderID: "o-1", ReturnID: "o-1-r1a2b", Currency: "EUR", Reason: "too small",
			Lines:   []schemas.ReturnLine{{SKU: "SKU-1", Quantity: 1, UnitPriceMinor: 1299}},
			Ordered: []schemas.ReturnLine{{SKU: "SKU-1", Quantity: 2, UnitPriceMinor: 1299}, {SKU: "SKU-2", Quantity: 1, UnitPriceMinor: 500}}, RequestedAt: at},
		schemas.ReturnReceived{Meta: meta("ReturnReceived"), OrderID: "o-1", ReturnID: "o-1-r1a2b", Condition: schemas.ReturnConditionDamaged, ReceivedAt: at},
		schemas.IssueReturnLabel{Meta: meta("IssueReturnLabel"), OrderID: "o-1", ReturnID: "o-1-r1a2b", Attempt: 2},
		schemas.VoidReturnLabel{Meta: meta("VoidReturnLabel"), OrderID: "o-1", ReturnID: "o-1-r1a2b", Attempt: 1},
		schemas.RefundReturn{Meta: meta("RefundReturn"), OrderID: "o-1", ReturnID: "o-1-r1a2b", AmountMinor: 1299, Currency: "EUR", Attempt: 1},
		schemas.RestockReturn{Meta: meta("RestockReturn"), SKU: "SKU-1", OrderID: "o-1", ReturnID: "o-1-r1a2b", Quantity: 1, Attempt: 3},
		schemas.ReturnLabelIssued{Meta: meta("ReturnLabelIssued"), OrderID: "o-1", ReturnID: "o-1-r1a2b", LabelID: "lbl-o-1-r1a2b"},
		schemas.ReturnLabelVoided{Meta: meta("ReturnLabelVoided"), OrderID: "o-1", ReturnID: "o-1-r1a2b", LabelID: "lbl-o-1-r1a2b"},
		schemas.ReturnRefunded{Meta: meta("ReturnRefunded"), OrderID: "o-1", ReturnID: "o-1-r1a2b", AmountMinor: 1299, Currency: "EUR"},
		schemas.ReturnRestocked{Meta: meta("ReturnRestocked"), OrderID: "o-1", ReturnID: "o-1-r1a2b", SKU: "SKU-1", Quantity: 1, Available: 9},
		schemas.CustomerErased{Meta: schemas.Metadata{EventID: "3d5e7f90-1a2b-4c3d-8e9f-0a1b2c3d4e5f", EventType: "CustomerErased",
			OccurredAt: at, CorrelationID: "c-1"}, CustomerID: "c-1", ErasedAt: at, Keys: 2},
		schemas.OrderStatus{OrderID: "o-1", Status: schemas.StatusCancelled, Reason: &reason, CustomerID: "c-1",
			TotalMinor: 3098, Currency: "EUR", PlacedAt: ptr(at), CancelledAt: ptr(at.Add(time.Second)), Version: 2,
			History:         []schemas.StatusEntry{{Status: schemas.StatusPlaced, At: at}, {Status: schemas.StatusCancelled, At: at.Add(time.Second)}},
			AppliedEventIDs: []string{"a", "b"}, Changes: []schemas.StatusTransition{{CauseEventID: "a", FromStatus: schemas.StatusUnknown,
				ToStatus: schemas.StatusPlaced, Version: 1, At: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}}},
	}
}

func TestRoundTripEveryEventType(t *testing.T) {
	s, _ := newTestSerde(t)
	seen := map[string]bool{}
	for _, v := range samples() {
		seen[v.AvroName()] = true
		data, err := s.Encode(v)
		if err != nil {
			t.Fatalf("%s: encode: %v", v.AvroName(), err)
		}
		got, err := s.Decode(data)
		if err != nil {
			t.Fatalf("%s: decode: %v", v.AvroName(), err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%s: round trip changed the value:\n got %+v\nwant %+v", v.AvroName(), got, v)
		}
	}
	all, _ := schemas.All()
	for _, sc := range all {
		if !seen[sc.Name] {
			t.Errorf("no round-trip sample for %s", sc.Name)
		}
	}
}

func TestNilOptionalsRoundTrip(t *testing.T) {
	s, _ := newTestSerde(t)
	v := schemas.OrderStatus{OrderID: "o-2", Status: schemas.StatusPlaced, Version: 1,
		History: []schemas.StatusEntry{}, AppliedEventIDs: []string{}, Changes: []schemas.StatusTransition{}}
	data, err := s.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeInto[schemas.OrderStatus](s, data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Errorf("got %+v, want %+v", got, v)
	}
}

// Golden bytes: the Confluent framing (magic 0, big-endian id) and Avro's zig-zag varints.
func TestGoldenWireFormat(t *testing.T) {
	s, reg := newTestSerde(t)
	sc, _ := schemas.Lookup("orderflow.events.PaymentAuthorized")
	id := reg.Register(sc.Subject, sc.Text)
	v := schemas.PaymentAuthorized{
		Meta: schemas.Metadata{EventID: "e1", EventType: "PA", OccurredAt: time.UnixMilli(1000).UTC(),
			OrderID: ptr("o1"), CorrelationID: "c"},
		OrderID: "o1", AmountMinor: 1299, Currency: "EUR",
	}
	data, err := s.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	want := "00" + hex.EncodeToString([]byte{0, 0, 0, byte(id)}) + // magic byte, schema id
		"04" + hex.EncodeToString([]byte("e1")) + // event_id: length 2 (zig-zag 4), bytes
		"04" + hex.EncodeToString([]byte("PA")) + // event_type
		"d00f" + // occurred_at: 1000 ms, zig-zag 2000 = 0xd0 0x0f
		"02" + "04" + hex.EncodeToString([]byte("o1")) + // order_id: union branch 1 (string)
		"02" + hex.EncodeToString([]byte("c")) + // correlation_id
		"00" + // causation_id: union branch 0 (null)
		"04" + hex.EncodeToString([]byte("o1")) + // order_id
		"a614" + // amount_minor 1299: zig-zag 2598 = 0xa6 0x14
		"06" + hex.EncodeToString([]byte("EUR"))
	if got := hex.EncodeToString(data); got != want {
		t.Errorf("wire bytes\n got %s\nwant %s", got, want)
	}
}

func TestDecodeErrorKinds(t *testing.T) {
	s, _ := newTestSerde(t)
	good, err := s.Encode(samples()[0])
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want Kind
	}{
		{"empty", nil, KindTruncated},
		{"json instead of avro", []byte(`{"order_id":"o-1"}`), KindBadMagic},
		{"header cut short", []byte{0, 0, 1}, KindTruncated},
		{"unknown schema id", Frame(9999, good[5:]), KindUnknownSchemaID},
		{"avro body cut short", good[:len(good)/2], KindTruncated},
		{"trailing garbage", append(bytes.Clone(good), 1, 2, 3), KindTypeMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Decode(tc.data)
			if KindOf(err) != tc.want {
				t.Fatalf("err = %v, want kind %s", err, tc.want)
			}
			if IsTransient(err) {
				t.Error("bad data must not be classified transient")
			}
		})
	}
	// Decoding an OrderPlaced where a PaymentAuthorized is expected is a type mismatch.
	if _, err := DecodeInto[schemas.PaymentAuthorized](s, good); KindOf(err) != KindTypeMismatch {
		t.Errorf("DecodeInto with the wrong type: %v, want %s", err, KindTypeMismatch)
	}
}

func TestEncodeRefusesUnregisteredSchema(t *testing.T) {
	s, err := New(NewMemoryRegistry())
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Encode(samples()[1])
	if KindOf(err) != KindNotRegistered || !strings.Contains(err.Error(), "schemas apply") {
		t.Fatalf("err = %v, want %s telling to run schemas apply", err, KindNotRegistered)
	}
}

func TestEncodeRefusesUnknownEnumSymbol(t *testing.T) {
	s, _ := newTestSerde(t)
	v := samples()[2].(schemas.PaymentDeclined)
	v.Reason = "BECAUSE"
	if _, err := s.Encode(v); KindOf(err) != KindTypeMismatch {
		t.Fatalf("err = %v, want %s", err, KindTypeMismatch)
	}
}

func TestUnavailableRegistryIsTransient(t *testing.T) {
	s, err := New(NewSRClient("http://127.0.0.1:1/apis/ccompat/v7"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Decode(Frame(1, []byte{0}))
	if !IsTransient(err) {
		t.Fatalf("err = %v, want a transient registry_unavailable", err)
	}
	if _, err := s.Encode(samples()[1]); !IsTransient(err) {
		t.Fatalf("encode err = %v, want transient", err)
	}
}

// fuzzSeeded returns a Serde of every shipped schema, with every sample's encoding added to f's
// seed corpus.
func fuzzSeeded(f *testing.F) *Serde {
	s, _ := newTestSerde(f)
	for _, v := range samples() {
		data, err := s.Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	return s
}

func FuzzDecode(f *testing.F) {
	s := fuzzSeeded(f)
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := s.Decode(data)
		if err != nil && KindOf(err) == "" {
			t.Fatalf("decode error without a kind: %v", err)
		}
		if err == nil && v == nil {
			t.Fatal("nil value without an error")
		}
	})
}

// OrderPlaced v3 added customer_name, customer_email and shipping_address (sealed personal data,
// ["null","string"] default null) at the end. Events of v1 (no sales_channel either) and v2 (no
// personal fields) decode with today's code, the personal fields nil; no version is a breaking
// change from any other (FULL_TRANSITIVE), and a v3 event read by a v2 consumer simply lacks them.
func TestOrderPlacedWithoutPersonalFieldsUpcasts(t *testing.T) {
	current, reg := newTestSerde(t)
	shipped, err := schemas.Lookup("orderflow.events.OrderPlaced")
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{"v3": shipped.Text}
	for _, v := range []string{"v1", "v2"} {
		text, err := os.ReadFile("../testdata/" + v + "/order_placed.avsc")
		if err != nil {
			t.Fatal(err)
		}
		texts[v] = string(text)
	}
	for _, pair := range [][2]string{{"v1", "v2"}, {"v1", "v3"}, {"v2", "v3"}, {"v3", "v2"}, {"v3", "v1"}} {
		changes, err := Diff(texts[pair[0]], texts[pair[1]])
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			if c.Breaking {
				t.Errorf("%s → %s: breaking change %s: %s", pair[0], pair[1], c.Path, c.What)
			}
		}
	}

	placed := samples()[0].(schemas.OrderPlaced)
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			old := schemas.Schema{File: v + "/order_placed.avsc", Name: shipped.Name, Subject: shipped.Subject, Text: texts[v]}
			reg.Register(old.Subject, old.Text)
			oldProducer, err := New(reg)
			if err != nil {
				t.Fatal(err)
			}
			if err := oldProducer.WithSchema(old); err != nil {
				t.Fatal(err)
			}
			data, err := oldProducer.Encode(placed) // the personal fields are not in the old schema
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeInto[schemas.OrderPlaced](current, data)
			if err != nil {
				t.Fatalf("current code cannot read a %s event: %v", v, err)
			}
			if got.CustomerName != nil || got.CustomerEmail != nil || got.ShippingAddress != nil {
				t.Errorf("personal fields of a %s event: %v %v %v, want nil", v, got.CustomerName, got.CustomerEmail, got.ShippingAddress)
			}
			want := placed
			want.CustomerName, want.CustomerEmail, want.ShippingAddress = nil, nil, nil
			if v == "v1" {
				want.Channel = schemas.ChannelUnknown
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s event read as\n %+v\nwant\n %+v", v, got, want)
			}

			// and a v3 event read by a consumer of the older version: the new fields are skipped
			v3data, err := current.Encode(placed)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeInto[schemas.OrderPlaced](oldProducer, v3data)
			if err != nil {
				t.Fatalf("a %s consumer cannot read a v3 event: %v", v, err)
			}
			if back.OrderID != placed.OrderID || back.CustomerName != nil {
				t.Errorf("v3 event read by %s: %+v", v, back)
			}
		})
	}
}
