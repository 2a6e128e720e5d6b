//go:build integration

package runner_test

import (
	"bytes"
	"context"
	avrobinary "encoding/binary"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/deadletter"
	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders/outbox"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// poison is one hostile message: its key names the case and the dead-letter kind it must get.
type poison struct {
	topic   string
	key     string
	kind    string
	payload []byte
}

// avroLong is Avro's encoding of a long (zig-zag varint).
func avroLong(v int64) []byte { return avrobinary.AppendVarint(nil, v) }

// hostile returns payload with the length or count varint at i replaced by huge.
func hostile(t *testing.T, payload []byte, i, width int, huge int64) []byte {
	t.Helper()
	if i < 0 {
		t.Fatal("marker not found in the encoded sample")
	}
	return append(append(append([]byte{}, payload[:i]...), avroLong(huge)...), payload[i+width:]...)
}

// corpus builds the poison of one topic: undecodable, unknown schema id, truncated, a huge string
// length, a valid record of a type the topic does not carry, and (where given) invariant-violating
// records. The valid sample is a record the topic carries; foreign one it does not.
func corpus(t *testing.T, serde *codec.Serde, topic, prefix string, sample, foreign schemas.Event, invalid map[string]schemas.Event) []poison {
	enc := func(ev schemas.Event) []byte {
		b, err := serde.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := enc(sample)
	expect := func(payload []byte) string { // the kind the bounded codec gives (its unit tests pin it)
		_, err := serde.Decode(payload)
		if err == nil {
			t.Fatal("hostile payload decodes")
		}
		return string(codec.KindOf(err))
	}
	// the first field of every event is its metadata, whose first field is the event id: its
	// length is the varint right after the 5-byte frame header
	hugeString := hostile(t, valid, 5, 1, 1<<31-1)
	cases := []poison{
		{kind: "bad_magic_byte", payload: []byte(`{"order_id":"o-1"}`)},
		{kind: "unknown_schema_id", payload: codec.Frame(987654321, valid[5:])},
		{kind: "truncated_payload", payload: valid[:len(valid)/2]},
		{kind: expect(hugeString), payload: hugeString},
		{kind: "wrong_schema_for_topic", payload: enc(foreign)},
	}
	if o, ok := sample.(schemas.OrderPlaced); ok {
		// an array of lines whose block count is 2^31−1, in a ~90-byte record
		marker := []byte("\x02\x10ZZZZMARK") // one line, then the 8-byte SKU of the first line
		o.Lines = []schemas.OrderLine{{SKU: "ZZZZMARK", Quantity: 1, UnitPriceMinor: 1}}
		o.TotalMinor = 1
		b := enc(o)
		hugeArray := hostile(t, b, bytes.Index(b, marker), 1, 1<<31-1)
		cases = append(cases, poison{kind: expect(hugeArray), payload: hugeArray})
	}
	for name, ev := range invalid {
		cases = append(cases, poison{kind: "rejected", key: name, payload: enc(ev)})
	}
	for i := range cases {
		cases[i].topic = topic
		cases[i].key = fmt.Sprintf("%s.%s.%s.%s.%d", prefix, topic[strings.Index(topic, ".")+1:], cases[i].kind, cases[i].key, i)
	}
	return cases
}

// The poison corpus, written straight into every input topic and into the outbox (so Debezium
// carries it), lands in each topic's dead-letter topic, once per processor reading the topic,
// with the kind the case calls for; the processors' process keeps its pid; orders placed
// afterwards complete. Then corrupt values are written into the order-status and inventory
// tables: after a restart the processors dead-letter the inputs of those keys (kind
// corrupt_table_value) instead of stopping, the API answers for the key without crashing, and
// orders still complete.
func TestIntegrationPoisonCorpusIsDeadLetteredAndNothingStops(t *testing.T) {
	p := startAPIOnly(t)
	procs := p.spawn(t, "a")
	cfg, topo := p.cfg, p.topo
	serde, err := codec.New(codec.NewSRClient(cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	order := proctest.Order("o-sample", "c-1", "A", 1)
	zeroQty, negPrice := proctest.Order("o-zero", "c-1", "A", 1), proctest.Order("o-neg", "c-1", "A", 1)
	zeroQty.Lines[0].Quantity, zeroQty.TotalMinor = 0, 0
	negPrice.Lines[0].UnitPriceMinor, negPrice.TotalMinor = -5, -5
	meta := func(typ string) schemas.Metadata { return proctest.Meta(typ, "o-sample") }
	stock := schemas.StockAdjusted{Meta: meta("StockAdjusted"), SKU: "P", Available: 5}
	negStock := stock
	negStock.Available = -1
	returnRequest := schemas.ReturnRequested{Meta: meta("ReturnRequested"), OrderID: "o-sample", ReturnID: schemas.ReturnID("o-sample", "k"),
		Lines: []schemas.ReturnLine{{SKU: "A", Quantity: 1, UnitPriceMinor: 1}}, Ordered: []schemas.ReturnLine{{SKU: "A", Quantity: 1, UnitPriceMinor: 1}}, Currency: "EUR", RequestedAt: proctest.At}
	noLines := returnRequest
	noLines.Lines = nil
	command := schemas.SkuCommand{Meta: meta("SkuCommand"), SKU: "P", OrderID: "o-sample", Op: schemas.SkuOpHold, Quantity: 1}
	samples := []struct {
		topic   goka.Stream
		sample  schemas.Event
		invalid map[string]schemas.Event
	}{
		{topo.OrderEvents(), order, map[string]schemas.Event{"quantity-0": zeroQty, "negative-price": negPrice}},
		{topo.StockEvents(), stock, map[string]schemas.Event{"negative-available": negStock}},
		{topo.PaymentEvents(), schemas.PaymentAuthorized{Meta: meta("PaymentAuthorized"), OrderID: "o-sample", AmountMinor: 1, Currency: "EUR"}, nil},
		{topo.InventoryEvents(), schemas.StockReserved{Meta: meta("StockReserved"), OrderID: "o-sample"}, nil},
		{topo.SkuCommands(), command, nil},
		{topo.SkuReplies(), schemas.SkuReply{Meta: meta("SkuReply"), OrderID: "o-sample", SKU: "P", Op: schemas.SkuOpHold}, nil},
		{topo.ShippingEvents(), schemas.ShipmentCreated{Meta: meta("ShipmentCreated"), OrderID: "o-sample", ShipmentID: "s", CreatedAt: proctest.At}, nil},
		{topo.DeadlineEvents(), schemas.OrderTimedOut{Meta: meta("OrderTimedOut"), OrderID: "o-sample", PlacedAt: proctest.At, Deadline: proctest.At}, nil},
		{topo.TimerFirings(), schemas.TimerFired{Meta: meta("TimerFired"), Key: "o-sample", Deadline: proctest.At}, nil},
		{topo.ReturnEvents(), returnRequest, map[string]schemas.Event{"no-lines": noLines}},
		{topo.ReturnTasks(), schemas.IssueReturnLabel{Meta: meta("IssueReturnLabel"), OrderID: "o-sample", ReturnID: returnRequest.ReturnID, Attempt: 1}, nil},
		{topo.ReturnReplies(), schemas.ReturnRefunded{Meta: meta("ReturnRefunded"), OrderID: "o-sample", ReturnID: returnRequest.ReturnID, AmountMinor: 1, Currency: "EUR"}, nil},
		{topo.ReturnTimers(), schemas.TimerFired{Meta: meta("TimerFired"), Key: "o-sample", Deadline: proctest.At}, nil},
	}
	var all []poison
	for i, s := range samples {
		foreign := samples[(i+1)%len(samples)].sample
		all = append(all, corpus(t, serde, string(s.topic), "direct", s.sample, foreign, s.invalid)...)
	}
	producer, err := sarama.NewSyncProducer(cfg.Brokers, kafka.NewSaramaConfig("itest-poison"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for _, c := range all {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: c.topic, Key: sarama.StringEncoder(c.key),
			Value: sarama.ByteEncoder(c.payload)}); err != nil {
			t.Fatal(err)
		}
	}
	// through the outbox: what a buggy or hostile writer of the outbox table could put there
	viaOutbox := append(corpus(t, serde, string(topo.OrderEvents()), "outbox", order, command,
		map[string]schemas.Event{"quantity-0": zeroQty, "negative-price": negPrice}),
		corpus(t, serde, string(topo.StockEvents()), "outbox", stock, order, map[string]schemas.Event{"negative-available": negStock})...)
	pg := itest.PG(t, cfg)
	ctx := itest.Context(t, 8*time.Minute)
	if err := pgx.BeginFunc(ctx, pg, func(tx pgx.Tx) error {
		for _, c := range viaOutbox {
			aggregate, typ := topology.AggregateOrder, "OrderPlaced"
			if c.topic == string(topo.StockEvents()) {
				aggregate, typ = topology.AggregateStock, "StockAdjusted"
			}
			if _, err := outbox.Insert(ctx, tx, p.schema, outbox.Event{AggregateType: aggregate, AggregateID: c.key, Type: typ, Payload: c.payload}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	all = append(all, viaOutbox...)

	placeAndComplete(t, p, 20)
	checkDeadLetters(t, p, all)
	select {
	case <-procs.exited:
		t.Fatal("the processors' process exited on the poison corpus")
	default:
	}
	kinds := map[string]bool{}
	for _, c := range all {
		kinds[c.kind] = true
	}
	t.Logf("poison corpus: %d messages (%d via the outbox) of kinds %v dead-lettered; process restarts: 0 (pid %d alive)",
		len(all), len(viaOutbox), sortedKinds(kinds), procs.cmd.Process.Pid)

	// Corrupt table values: a processor restored with them goes on.
	for _, table := range []string{string(topo.Table(topology.GroupOrderStatus)), string(topo.Table(topology.GroupInventory))} {
		key := "o-corrupt"
		if strings.Contains(table, topology.GroupInventory) {
			key = "SKU-CORRUPT"
		}
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: table, Key: sarama.StringEncoder(key),
			Value: sarama.ByteEncoder(hostile(t, []byte("\x00\x00\x00\x00\x01\x02rest"), 5, 1, 1<<31-1))}); err != nil {
			t.Fatal(err)
		}
	}
	procs.signal(t, syscall.SIGTERM)
	procs = p.spawn(t, "a") // restores the tables, corrupt values included
	corrupt := []poison{
		{topic: string(topo.OrderEvents()), key: "o-corrupt", kind: "corrupt_table_value"},
		{topic: string(topo.StockEvents()), key: "SKU-CORRUPT", kind: "corrupt_table_value"},
	}
	corruptOrder := proctest.Order("o-corrupt", "c-1", "C", 1) // not A: placeAndComplete counts A
	corruptStock := schemas.StockAdjusted{Meta: meta("StockAdjusted"), SKU: "SKU-CORRUPT", Available: 5}
	for i, ev := range []schemas.Event{corruptOrder, corruptStock} {
		b, _ := serde.Encode(ev)
		corrupt[i].payload = b
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: corrupt[i].topic, Key: sarama.StringEncoder(corrupt[i].key),
			Value: sarama.ByteEncoder(b)}); err != nil {
			t.Fatal(err)
		}
	}
	placeAndComplete(t, p, 10)
	checkDeadLettersBy(t, p, corrupt, map[string]int{"o-corrupt": 1, "SKU-CORRUPT": 1}) // only the owner of the corrupt table
	resp, err := http.Get(p.base + "/orders/o-corrupt")
	if err != nil {
		t.Fatalf("the API after reading a corrupt value: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("GET of an order whose table value is corrupt answered 200")
	}
	select {
	case <-procs.exited:
		t.Fatal("the processors' process exited on a corrupt table value")
	default:
	}
}

// placeAndComplete places n orders of one unit of A through the API and waits until every one is
// terminal.
func placeAndComplete(t *testing.T, p *pipeline, n int) {
	t.Helper()
	var st stockResp
	p.call("GET", "/inventory/A", nil, &st)
	p.call("PUT", "/inventory/A", map[string]int64{"available": st.Available + int64(n)}, nil)
	waitStock(t, p, "A", st.Available+int64(n), 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	shipped := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var created, final orderResp
			if p.call("POST", "/orders", orderReq{fmt.Sprintf("c-%d", i), "EUR", []item{{"A", 1, 100}}}, &created) != 201 {
				return
			}
			p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
			if final.Status == "SHIPPED" {
				mu.Lock()
				shipped++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if shipped != n {
		t.Fatalf("%d of %d orders placed after the poison shipped: a partition is blocked", shipped, n)
	}
}

// checkDeadLetters waits until every poison message is in its topic's dead-letter topic once per
// processor reading the topic, with its kind and the original payload.
func checkDeadLetters(t *testing.T, p *pipeline, cases []poison) {
	readBy := readers(p.topo)
	want := map[string]int{}
	for _, c := range cases {
		want[c.key] = readBy[c.topic]
	}
	checkDeadLettersBy(t, p, cases, want)
}

func checkDeadLettersBy(t *testing.T, p *pipeline, cases []poison, want map[string]int) {
	t.Helper()
	byTopic := map[string][]poison{}
	for _, c := range cases {
		byTopic[c.topic] = append(byTopic[c.topic], c)
	}
	for topic, cs := range byTopic {
		var got map[string][]deadletter.Entry
		err := itest.Eventually(itest.Context(t, 2*time.Minute), func() error {
			entries, err := deadletter.Read(context.Background(), p.cfg.Brokers, topic+topology.DLQSuffix, 0)
			if err != nil {
				return err
			}
			got = map[string][]deadletter.Entry{}
			for _, e := range entries {
				got[string(e.Key)] = append(got[string(e.Key)], e)
			}
			for _, c := range cs {
				if len(got[c.key]) < want[c.key] {
					return fmt.Errorf("%s: %d dead letters, want %d", c.key, len(got[c.key]), want[c.key])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		for _, c := range cs {
			if len(got[c.key]) != want[c.key] {
				t.Errorf("%s: %d dead letters, want %d", c.key, len(got[c.key]), want[c.key])
			}
			for _, e := range got[c.key] {
				if k := e.Headers[streams.HeaderDLQKind]; k != c.kind {
					t.Errorf("%s: dead-lettered by %s as %q (%s), want %q", c.key, e.Headers[streams.HeaderDLQProcessor], k,
						e.Headers[streams.HeaderDLQMessage], c.kind)
				}
				if !bytes.Equal(e.Value, c.payload) {
					t.Errorf("%s: the dead letter does not carry the original payload", c.key)
				}
			}
		}
	}
}

func sortedKinds(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}

// readers counts, per topic, the processors reading it: each dead-letters a poison message of
// that topic once.
func readers(topo topology.Topology) map[string]int {
	out := map[string]int{}
	for _, inputs := range catalog.Inputs(topo) {
		for _, in := range inputs {
			out[in]++
		}
	}
	return out
}
