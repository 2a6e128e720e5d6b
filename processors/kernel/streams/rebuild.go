package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/syndtr/goleveldb/leveldb"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// RebuildConfig describes a bulk rebuild of a processor's group table (see Rebuild).
type RebuildConfig[S any] struct {
	Brokers  []string
	Group    string     // the consumer group whose offsets are committed at the end
	Inputs   []string   // the processor's input topics, co-partitioned
	Table    string     // the group table topic written
	Codec    goka.Codec // of the table value S
	Serde    *codec.Serde
	Decide   Decider[S]
	StateDir string // spill store for keys beyond the cache (a LevelDB per partition)
	// CacheKeys bounds the (encoded) values kept in memory per partition (default 100 000; beyond
	// it, half leave for the spill store at the next flush and are read back from there).
	CacheKeys int
	// HotKeys bounds the values kept decoded per partition (default 4096): beyond it, they are
	// all encoded and stay in the cache as bytes.
	HotKeys int
	// FlushKeys is how many updated keys a partition gathers before writing them to the table
	// topic (default CacheKeys/2): updates of one key in between are merged into one record.
	FlushKeys int
	Processed *atomic.Int64 // when set, counts the inputs processed (progress)
}

// Durable adapts the decision of a processor run by DurableCallback to a decision on its table
// value, the Envelope: its offsets are kept as DurableCallback keeps them, so the goka processor
// started on a rebuilt table recognises replays as it would on its own.
func Durable[S any](decide Decider[S]) Decider[Envelope[S]] {
	return func(env *Envelope[S], ev schemas.Event, msg Message) (*Envelope[S], []Emit, error) {
		var state *S
		var current Envelope[S]
		if env != nil {
			state, current = &env.State, *env
		}
		next, emits, err := decide(state, ev, msg)
		if err != nil || (next == nil && len(emits) == 0) {
			return nil, emits, err
		}
		out := current.advanced(*stateAfter(next, state), msg.Topic, msg.Offset)
		return &out, emits, nil
	}
}

// Rebuild folds a processor's inputs, from the earliest offsets to the end offsets they have
// when it starts, into a new group table and commits the group's offsets at those ends, so the
// goka processor of that group, started afterwards, restores the table and goes on from there.
//
// It is the processor's own decision over the same inputs, with two differences from running
// the goka processor from scratch, both as Kafka Streams does it: updates of a key are merged in
// a record cache and written once per flush instead of once per input (the table topic then
// holds fewer records with the same latest value per key), and the inputs of a partition are
// read merged by record timestamp (ties in the order of Inputs), as Kafka Streams synchronises a
// task's partitions, where goka interleaves them as they arrive: a cause is read before its
// effect, concurrent inputs in the order they were produced (the order the live processor most
// likely saw them), and an entity's inputs close together, so its state is decoded once for
// them. A processor's emits go to the topics of its version (topology.Out in a shadow
// topology). Poison inputs are skipped and logged at debug level (the live processor
// dead-lettered them already).
func Rebuild[S any](ctx context.Context, cfg RebuildConfig[S]) (int64, error) {
	if cfg.CacheKeys <= 0 {
		cfg.CacheKeys = 100_000
	}
	if cfg.HotKeys <= 0 {
		cfg.HotKeys = 4096
	}
	if cfg.FlushKeys <= 0 {
		cfg.FlushKeys = cfg.CacheKeys / 2
	}
	ccfg := kafka.NewSaramaConfig("rebuild-" + cfg.Group)
	// Each partition reads with a client of its own: the partition consumers of one client share a
	// fetch loop that waits for every one of them to take its messages, and a partition whose
	// inputs are merged by timestamp leaves the input that is ahead untaken, which held every
	// other partition up (sarama's MaxProcessingTime, 100 ms at a time): 1.4× faster apart.
	// Small fetches into deep channels: an input rarely waits for room.
	ccfg.Consumer.Fetch.Default = 256 << 10
	ccfg.ChannelBufferSize = 16384
	client, err := sarama.NewClient(cfg.Brokers, ccfg)
	if err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	defer client.Close()
	parts, err := client.Partitions(cfg.Inputs[0])
	if err != nil {
		return 0, fmt.Errorf("rebuild: partitions of %s: %w", cfg.Inputs[0], err)
	}
	starts, ends := map[string]map[int32]int64{}, map[string]map[int32]int64{}
	for _, topic := range cfg.Inputs {
		starts[topic], ends[topic] = map[int32]int64{}, map[int32]int64{}
		for _, p := range parts {
			for _, at := range []int64{sarama.OffsetOldest, sarama.OffsetNewest} {
				off, err := client.GetOffset(topic, p, at)
				if err != nil {
					return 0, fmt.Errorf("rebuild: offsets of %s/%d: %w", topic, p, err)
				}
				if at == sarama.OffsetOldest {
					starts[topic][p] = off
				} else {
					ends[topic][p] = off
				}
			}
		}
	}
	// a client of its own: producer settings batch as the processors' do
	pclient, err := sarama.NewClient(cfg.Brokers, kafka.NewProcessorProducerConfig("rebuild-"+cfg.Group))
	if err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	defer pclient.Close()
	producer, err := sarama.NewAsyncProducerFromClient(pclient)
	if err != nil {
		return 0, fmt.Errorf("rebuild: producer: %w", err)
	}

	var produceErr error
	var errOnce sync.Once
	var acks sync.WaitGroup
	acks.Add(2)
	go func() {
		defer acks.Done()
		for range producer.Successes() {
		}
	}()
	go func() {
		defer acks.Done()
		for e := range producer.Errors() {
			errOnce.Do(func() { produceErr = e.Err })
		}
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var total atomic.Int64
	errs := make(chan error, len(parts))
	for _, p := range parts {
		go func() {
			n, err := rebuildPartition(ctx, cfg, ccfg, producer, p, starts, ends)
			total.Add(n)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var firstErr error
	for range parts {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	producer.AsyncClose() // sends what is buffered, then closes Successes and Errors
	acks.Wait()
	if firstErr != nil {
		return total.Load(), firstErr
	}
	if produceErr != nil {
		return total.Load(), fmt.Errorf("rebuild: write: %w", produceErr)
	}
	// every record is written: the group goes on from the ends
	om, err := sarama.NewOffsetManagerFromClient(cfg.Group, client)
	if err != nil {
		return total.Load(), fmt.Errorf("rebuild: offsets of %s: %w", cfg.Group, err)
	}
	var poms []sarama.PartitionOffsetManager
	for topic, byPart := range ends {
		for p, end := range byPart {
			pom, err := om.ManagePartition(topic, p)
			if err != nil {
				om.Close()
				return total.Load(), fmt.Errorf("rebuild: offsets of %s/%d: %w", topic, p, err)
			}
			pom.MarkOffset(end, "")
			poms = append(poms, pom)
		}
	}
	om.Commit()
	for _, pom := range poms {
		pom.AsyncClose() // all at once: a synchronous close waits for a commit tick each
	}
	if err := om.Close(); err != nil {
		return total.Load(), fmt.Errorf("rebuild: commit offsets of %s: %w", cfg.Group, err)
	}
	return total.Load(), verifyCommitted(cfg.Brokers, cfg.Group, ends)
}

// verifyCommitted checks that group's committed offsets are the ends (a failed commit would
// otherwise make the goka processor fold every input again on top of the rebuilt table).
func verifyCommitted(brokers []string, group string, ends map[string]map[int32]int64) error {
	admin, err := kafka.NewAdmin(brokers)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	defer admin.Close()
	want := map[string][]int32{}
	for topic, byPart := range ends {
		for p := range byPart {
			want[topic] = append(want[topic], p)
		}
	}
	got, err := admin.ListConsumerGroupOffsets(group, want)
	if err != nil {
		return fmt.Errorf("rebuild: read back the offsets of %s: %w", group, err)
	}
	for topic, byPart := range ends {
		for p, end := range byPart {
			if b := got.GetBlock(topic, p); b == nil || b.Offset != end {
				return fmt.Errorf("rebuild: offset of %s on %s/%d is not committed at %d", group, topic, p, end)
			}
		}
	}
	return nil
}

// rebuildPartition folds partition p of every input.
func rebuildPartition[S any](ctx context.Context, cfg RebuildConfig[S], ccfg *sarama.Config, producer sarama.AsyncProducer,
	p int32, starts, ends map[string]map[int32]int64) (int64, error) {
	client, err := sarama.NewClient(cfg.Brokers, ccfg)
	if err != nil {
		return 0, fmt.Errorf("rebuild: partition %d: %w", p, err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, fmt.Errorf("rebuild: partition %d: consumer: %w", p, err)
	}
	defer consumer.Close()
	dir := filepath.Join(cfg.StateDir, fmt.Sprintf("rebuild-%d", p))
	if err := os.RemoveAll(dir); err != nil {
		return 0, err
	}
	spill, err := leveldb.OpenFile(dir, storageOptions())
	if err != nil {
		return 0, fmt.Errorf("rebuild: spill store: %w", err)
	}
	defer func() { spill.Close(); os.RemoveAll(dir) }()

	// The record cache has two levels. A key's value is kept decoded while its inputs come
	// (inputs merged by timestamp bring an entity's events close together), at most HotKeys of
	// them; then it is encoded, as Kafka Streams' cache keeps every value. A decoded state is a
	// graph of strings and slices that the garbage collector marks again in every cycle: kept
	// for all 270 000 keys of the benchmark's backlog, that marking took a third of the
	// rebuild's CPU, and decoding and encoding on every input instead took another third.
	type entry struct {
		state *S     // decoded, while the key is hot
		data  []byte // encoded; nil while a hot state has changed since it was encoded
		dirty bool   // changed since the last flush
	}
	cache := map[string]*entry{}
	var dirty, hot []string
	encode := func(key string, e *entry) error {
		if e.data == nil {
			data, err := cfg.Codec.Encode(*e.state)
			if err != nil {
				return fmt.Errorf("rebuild: encode the value of %q: %w", key, err)
			}
			e.data = data
		}
		return nil
	}
	// cool encodes the hot states and lets them go.
	cool := func() error {
		for _, key := range hot {
			e := cache[key]
			if e == nil || e.state == nil {
				continue
			}
			if err := encode(key, e); err != nil {
				return err
			}
			e.state = nil
		}
		hot = hot[:0]
		return nil
	}
	// flush writes the updated keys to the table topic; then, beyond CacheKeys, values leave the
	// cache for the spill store (written only then: a table that fits in the cache never
	// touches the disk here).
	flush := func() error {
		for _, key := range dirty {
			e := cache[key]
			if err := encode(key, e); err != nil {
				return err
			}
			select {
			case producer.Input() <- &sarama.ProducerMessage{Topic: cfg.Table, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(e.data)}:
			case <-ctx.Done():
				return ctx.Err()
			}
			e.dirty = false
		}
		dirty = dirty[:0]
		if len(cache) <= cfg.CacheKeys {
			return nil
		}
		if err := cool(); err != nil {
			return err
		}
		batch := new(leveldb.Batch)
		for key, e := range cache {
			if len(cache) <= cfg.CacheKeys/2 {
				break
			}
			batch.Put([]byte(key), e.data)
			delete(cache, key)
		}
		if err := spill.Write(batch, nil); err != nil {
			return fmt.Errorf("rebuild: spill: %w", err)
		}
		return nil
	}

	apply := func(m *sarama.ConsumerMessage) error {
		if cfg.Processed != nil {
			cfg.Processed.Add(1)
		}
		key := string(m.Key)
		decoded, err := decodeRetrying(ctx, cfg.Serde, m.Value)
		if err != nil {
			if codec.IsTransient(err) {
				return fmt.Errorf("rebuild: registry unavailable: %w", err)
			}
			slog.Debug("rebuild: poison input skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			return nil
		}
		ev, ok := decoded.(schemas.Event)
		if !ok {
			return nil
		}
		e := cache[key]
		var stored []byte
		if e != nil {
			stored = e.data
		} else if data, err := spill.Get([]byte(key), nil); err == nil {
			stored = data
		} else if !errors.Is(err, leveldb.ErrNotFound) {
			return fmt.Errorf("rebuild: spill: %w", err)
		}
		var state *S
		if e != nil && e.state != nil {
			state = e.state
		} else if stored != nil {
			v, err := cfg.Codec.Decode(stored)
			if err != nil {
				return fmt.Errorf("rebuild: decode the value of %q: %w", key, err)
			}
			s := v.(S)
			state = &s
		}
		newState, emits, err := cfg.Decide(state, ev, Message{Topic: m.Topic, Key: key, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp})
		if err != nil {
			slog.Debug("rebuild: rejected input skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			return nil
		}
		if newState != nil {
			if e == nil {
				e = &entry{}
				cache[key] = e
			}
			if e.state == nil {
				hot = append(hot, key)
			}
			e.state, e.data = newState, nil
			if !e.dirty {
				e.dirty = true
				dirty = append(dirty, key)
			}
		}
		for _, out := range emits {
			payload, err := encodeRetrying(ctx, cfg.Serde, out.Event)
			if err != nil {
				return fmt.Errorf("rebuild: encode %s: %w", out.Event.AvroName(), err)
			}
			hdrs := []sarama.RecordHeader{
				{Key: []byte(HeaderEventID), Value: []byte(out.Event.Metadata().EventID)},
				{Key: []byte(HeaderEventType), Value: []byte(out.Event.Metadata().EventType)},
			}
			for _, h := range m.Headers {
				if string(h.Key) == HeaderTraceParent {
					hdrs = append(hdrs, *h)
				}
			}
			select {
			case producer.Input() <- &sarama.ProducerMessage{Topic: string(out.Topic), Key: sarama.StringEncoder(out.Key), Value: sarama.ByteEncoder(payload), Headers: hdrs}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(hot) > cfg.HotKeys {
			if err := cool(); err != nil {
				return err
			}
		}
		if len(dirty) >= cfg.FlushKeys {
			if err := flush(); err != nil {
				return err
			}
		}
		return nil
	}

	n, err := readMerged(ctx, consumer, cfg.Inputs, p, starts, ends, apply)
	if err != nil {
		return n, err
	}
	return n, flush()
}

// readMerged applies the messages of partition p of every input below its end, merged by record
// timestamp (ties: the input listed first).
func readMerged(ctx context.Context, consumer sarama.Consumer, inputs []string, p int32, starts, ends map[string]map[int32]int64,
	apply func(*sarama.ConsumerMessage) error) (int64, error) {
	type source struct {
		pc   sarama.PartitionConsumer
		head *sarama.ConsumerMessage
		end  int64
		done bool
	}
	var sources []*source
	defer func() {
		for _, src := range sources {
			go func() {
				src.pc.AsyncClose()
				for range src.pc.Messages() {
				}
			}()
		}
	}()
	for _, topic := range inputs {
		start, end := starts[topic][p], ends[topic][p]
		if end <= start {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, start)
		if err != nil {
			return 0, fmt.Errorf("rebuild: consume %s/%d: %w", topic, p, err)
		}
		sources = append(sources, &source{pc: pc, end: end})
	}
	next := func(src *source) error {
		for {
			select {
			case m := <-src.pc.Messages():
				if m.Offset >= src.end {
					src.done, src.head = true, nil
					return nil
				}
				src.head = m
				return nil
			case err := <-src.pc.Errors():
				return fmt.Errorf("rebuild: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	for _, src := range sources {
		if err := next(src); err != nil {
			return 0, err
		}
	}
	var n int64
	for {
		var pick *source
		for _, src := range sources {
			if src.done || src.head == nil {
				continue
			}
			if pick == nil || src.head.Timestamp.Before(pick.head.Timestamp) {
				pick = src
			}
		}
		if pick == nil {
			return n, nil
		}
		m := pick.head
		if err := apply(m); err != nil {
			return n, err
		}
		n++
		if m.Offset >= pick.end-1 {
			pick.done, pick.head = true, nil
			continue
		}
		if err := next(pick); err != nil {
			return n, err
		}
	}
}
