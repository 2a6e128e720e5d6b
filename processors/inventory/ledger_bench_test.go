package inventory

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"testing"

	"github.com/orderflow/orderflow/pipelines/streams"
)

// fullLedger is the table value of a hot SKU once its history is long: closedKept closed orders,
// recentIDs recent event ids, some holds, and the envelope's replay record.
func fullLedger() streams.Envelope[State] {
	s := State{OnHand: 1_000_000, Holds: map[string]int32{}}
	for i := 0; i < closedKept; i++ {
		s.Closed = append(s.Closed, fmt.Sprintf("%08x-5a43-4b0e-9d7e-3f1f1c1a2b3c", i))
	}
	for i := 0; i < recentIDs; i++ {
		s.Recent = append(s.Recent, fmt.Sprintf("%08x-aaaa-4b0e-9d7e-3f1f1c1a2b3c", i))
	}
	for i := 0; i < 50; i++ {
		s.Holds[fmt.Sprintf("%08x-bbbb-4b0e-9d7e-3f1f1c1a2b3c", i)] = 1
	}
	return streams.Envelope[State]{State: s, Offsets: map[string]int64{"orderflow.inventory.sku-commands/3": 123456},
		Sent: []streams.Sent{{In: "orderflow.inventory.sku-commands", Offset: 123456, Topic: "orderflow.inventory.sku-replies",
			Key: "0b8f6c1e-5a43-4b0e-9d7e-3f1f1c1a2b3c", Value: bytes.Repeat([]byte{7}, 180), Headers: map[string]string{"id": "x", "traceparent": "00-abc"}}}}
}

// benchJSON measures a decode + encode of v with the JSON table codec.
func benchJSON(b *testing.B, v streams.Envelope[State]) {
	codec := streams.JSONCodec[streams.Envelope[State]]{}
	data, _ := codec.Encode(v)
	b.ResetTimer()
	for b.Loop() {
		d, err := codec.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := codec.Encode(d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bytes/value")
}

// The inventory processor decodes and re-encodes its SKU's whole ledger for every SKU command:
// the cost per message of a hot SKU once its history is long (BENCHMARKS.md names it the
// processors' biggest cost). Compared with gob, a binary encoding of the same value.
func BenchmarkLedgerValueJSON(b *testing.B) { benchJSON(b, fullLedger()) }

func BenchmarkLedgerValueGob(b *testing.B) {
	v := fullLedger()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.ResetTimer()
	for b.Loop() {
		var d streams.Envelope[State]
		if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&d); err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		if err := gob.NewEncoder(&out).Encode(d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bytes/value")
}

// The same ledger without its closed-order list: what a value costs when it holds only the
// active holds and the recent ids (the proposal in BENCHMARKS.md).
func BenchmarkLedgerValueJSONWithoutClosed(b *testing.B) {
	v := fullLedger()
	v.State.Closed = nil
	benchJSON(b, v)
}
