package inventory

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/orderflow/orderflow/processors/kernel/streams"
)

// busyLedger is the table value of a hot SKU under load: 50 open holds and the envelope's
// offsets. Nothing in it depends on how many commands the SKU has seen.
func busyLedger() streams.Envelope[State] {
	s := State{OnHand: 1_000_000, StockVersion: 12}
	for i := 0; i < 50; i++ {
		s.Holds = append(s.Holds, Hold{Order: OrderKey(fmt.Sprintf("%08x-bbbb-4b0e-9d7e-3f1f1c1a2b3c", i)), Quantity: 1, Seq: int64(123400 + 3*i)})
	}
	return streams.Envelope[State]{State: s, Offsets: map[string]int64{
		"orderflow.inventory.sku-commands": 123456, "orderflow.stock.events": 17}}
}

func benchCodec(b *testing.B, encode func(any) ([]byte, error), decode func([]byte) (any, error)) {
	data, err := encode(busyLedger())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		d, err := decode(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := encode(d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bytes/value")
}

// The inventory processor decodes and re-encodes its SKU's ledger for every SKU command: the
// cost per message of a hot SKU (`go test -bench Ledger ./processors/inventory/`).
func BenchmarkLedgerValueBinary(b *testing.B) {
	c := TableCodec()
	benchCodec(b, c.Encode, c.Decode)
}

// The same value as JSON, the table encoding before the binary codec.
func BenchmarkLedgerValueJSON(b *testing.B) {
	benchCodec(b, json.Marshal, func(data []byte) (any, error) {
		var v streams.Envelope[State]
		return v, json.Unmarshal(data, &v)
	})
}
