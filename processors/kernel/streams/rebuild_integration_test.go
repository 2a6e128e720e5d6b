//go:build integration

package streams_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
	"github.com/orderflow/orderflow/schemas/gate"
)

// countCodec encodes the number of events a key has seen.
type countCodec struct{}

func (countCodec) Encode(v any) ([]byte, error) { return binary.AppendVarint(nil, v.(int64)), nil }
func (countCodec) Decode(b []byte) (any, error) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return nil, fmt.Errorf("bad count")
	}
	return v, nil
}

// A bulk rebuild over two inputs with a cache far smaller than the table, and fewer keys kept
// decoded than a partition has: every key's value is the fold of all its events (values that
// were encoded, or left the cache for the spill store, are read back), each key's updates are
// merged into few table records, the decision's emits are written, a poison input is skipped,
// and the group's offsets are committed at the inputs' ends.
func TestIntegrationRebuildFoldsEveryInputWithASmallCache(t *testing.T) {
	cfg := itest.Stack(t)
	ctx := itest.Context(t, 3*time.Minute)
	prefix := "rebuild" + itest.Suffix()
	in1, in2, table, out := prefix+".a", prefix+".b", prefix+".g-table", prefix+".out"
	itest.Topics(t, cfg, kafka.Topic{Name: in1, Partitions: 6}, kafka.Topic{Name: in2, Partitions: 6},
		kafka.Topic{Name: table, Partitions: 6, Compacted: true}, kafka.Topic{Name: out, Partitions: 6})
	all, _ := schemas.All()
	if _, err := gate.New(cfg.RegistryURL).Apply(ctx, all); err != nil {
		t.Fatal(err)
	}
	serde, err := codec.New(codec.NewSRClient(cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(cfg.Brokers, kafka.NewSaramaConfig("itest-rebuild"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	const keys = 200
	want := map[string]int64{}
	var msgs []*sarama.ProducerMessage
	for i := range keys {
		key := fmt.Sprintf("k-%d", i)
		for j := 0; j <= i%3; j++ { // 1 to 3 events per key on each input
			for _, topic := range []string{in1, in2} {
				ev := schemas.PaymentAuthorized{Meta: schemas.Metadata{EventID: uuid.NewString(), EventType: "PaymentAuthorized",
					OccurredAt: time.Now().UTC().Truncate(time.Millisecond), CorrelationID: key}, OrderID: key, AmountMinor: 1, Currency: "EUR"}
				payload, err := serde.Encode(ev)
				if err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(payload)})
				want[key]++
			}
		}
	}
	msgs = append(msgs, &sarama.ProducerMessage{Topic: in1, Key: sarama.StringEncoder("k-0"), Value: sarama.ByteEncoder("not avro")})
	if err := producer.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}

	group := prefix + ".g"
	n, err := streams.Rebuild(ctx, streams.RebuildConfig[int64]{
		Brokers: cfg.Brokers, Group: group, Inputs: []string{in1, in2}, Table: table, Codec: countCodec{}, Serde: serde,
		StateDir: t.TempDir(), CacheKeys: 8, FlushKeys: 4, HotKeys: 3,
		Decide: func(state *int64, ev schemas.Event, msg streams.Message) (*int64, []streams.Emit, error) {
			next := int64(1)
			if state != nil {
				next = *state + 1
			}
			var emits []streams.Emit
			if next == 1 {
				emits = append(emits, streams.Emit{Topic: streamOf(out), Key: msg.Key, Event: ev})
			}
			return &next, emits, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(msgs)) {
		t.Errorf("rebuild read %d inputs, want %d", n, len(msgs))
	}

	client, err := sarama.NewClient(cfg.Brokers, kafka.NewSaramaConfig("itest-rebuild-read"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	got, records := map[string]int64{}, 0
	if err := kafka.ReadTopic(ctx, client, table, func(m *sarama.ConsumerMessage) {
		v, _ := countCodec{}.Decode(m.Value)
		got[string(m.Key)] = v.(int64)
		records++
	}); err != nil {
		t.Fatal(err)
	}
	for key, w := range want {
		if got[key] != w {
			t.Errorf("%s: table says %d, want %d", key, got[key], w)
		}
	}
	if len(got) != keys || records >= len(msgs)-1 {
		t.Errorf("table: %d keys in %d records for %d inputs; want %d keys and merged updates", len(got), records, len(msgs)-1, keys)
	}
	emitted := 0
	if err := kafka.ReadTopic(ctx, client, out, func(*sarama.ConsumerMessage) { emitted++ }); err != nil {
		t.Fatal(err)
	}
	if emitted != keys {
		t.Errorf("%d emits, want one per key (%d)", emitted, keys)
	}
	admin, err := kafka.NewAdmin(cfg.Brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	offsets, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{in1: {0, 1, 2, 3, 4, 5}, in2: {0, 1, 2, 3, 4, 5}})
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{in1, in2} {
		for p := int32(0); p < 6; p++ {
			end, _ := client.GetOffset(topic, p, sarama.OffsetNewest)
			if b := offsets.GetBlock(topic, p); b == nil || b.Offset != end {
				t.Errorf("%s/%d: committed %v, want %d", topic, p, b, end)
			}
		}
	}
}
