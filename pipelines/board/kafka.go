package board

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/pipelines/deadletter"
	"github.com/orderflow/orderflow/pipelines/reprocess"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

// errUnknownTopic: the topic does not exist (not created yet).
var errUnknownTopic = errors.New("no such topic")

// keyedRecord is one record of a key on an event topic.
type keyedRecord struct {
	offset    int64
	time      time.Time
	eventType string // the eventType header
	eventID   string // the id header
}

// keyScan is what a scan of the partition of a key found.
type keyScan struct {
	partition int32
	records   []keyedRecord
	truncated bool // the scan stopped before the high-water mark
}

type deadLetterEntry struct {
	partition               int32
	offset                  int64
	time                    time.Time
	kind, reason, processor string
}

type deadLetterStats struct {
	count  int64             // records held, over every partition
	latest []deadLetterEntry // the newest first
}

// cluster is what the board asks of Kafka; kafkaCluster asks a broker, the tests a fake.
type cluster interface {
	// scanKey reads, on the partition of topic that key hashes to, the records from the first
	// at or after since (the partition's oldest for a zero since) to the high-water mark, at most
	// maxScanned of them, and returns those whose key is key.
	scanKey(ctx context.Context, topic, key string, since time.Time, maxScanned int) (keyScan, error)
	// committed returns group's committed offsets (the next offset it will read; -1 for none)
	// on partitions.
	committed(ctx context.Context, group string, partitions map[string][]int32) (map[string]map[int32]int64, error)
	// deadLetters counts a dead-letter topic's records and reads its latest newest ones.
	deadLetters(ctx context.Context, topic string, latest int) (deadLetterStats, error)
	// replay replays a dead-letter topic (deadletter.Replay).
	replay(ctx context.Context, topic string) (int, error)
	// versions lists the table versions (reprocess.Versions).
	versions(ctx context.Context) ([]reprocess.VersionInfo, error)
	close() error
}

// Kafka client settings of the board: it fails fast rather than hold a request.
const (
	kafkaDialTimeout  = 5 * time.Second
	reconnectBackoff  = 5 * time.Second // after a failed connection, requests fail at once this long
	scanIdleTimeout   = 3 * time.Second // a partition read that receives nothing this long stops
	maxDeadLetterText = 500             // bytes of a dead letter's error message shown
)

// kafkaCluster implements cluster with one sarama client, opened on first use (and again after
// it failed, at most every reconnectBackoff).
type kafkaCluster struct {
	ep       endpoints.Endpoints
	topology topology.Topology

	mu         sync.Mutex
	client     sarama.Client
	admin      sarama.ClusterAdmin // of client; closing it closes client
	failedAt   time.Time
	connectErr error
}

func newKafkaCluster(ep endpoints.Endpoints, t topology.Topology) *kafkaCluster {
	return &kafkaCluster{ep: ep, topology: t}
}

func (k *kafkaCluster) connect() (sarama.Client, sarama.ClusterAdmin, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client != nil && !k.client.Closed() {
		return k.client, k.admin, nil
	}
	if k.connectErr != nil && time.Since(k.failedAt) < reconnectBackoff {
		return nil, nil, k.connectErr
	}
	client, admin, err := k.dial()
	if err != nil {
		k.failedAt, k.connectErr = time.Now(), err
		return nil, nil, err
	}
	k.client, k.admin, k.connectErr = client, admin, nil
	return client, admin, nil
}

func (k *kafkaCluster) dial() (sarama.Client, sarama.ClusterAdmin, error) {
	if len(k.ep.Brokers) == 0 {
		return nil, nil, errors.New("board: no Kafka brokers configured")
	}
	cfg := kafka.NewSaramaConfig("orderflow-board")
	cfg.Net.DialTimeout = kafkaDialTimeout
	cfg.Metadata.Retry.Max = 1
	// A scan reads a range up to a known end: a fetch should answer at once with what there is,
	// not wait for more (sarama's 500 ms default made every scanned topic cost 0.6 s).
	cfg.Consumer.MaxWaitTime = 10 * time.Millisecond
	client, err := sarama.NewClient(k.ep.Brokers, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("board: connect to Kafka %v: %w", k.ep.Brokers, err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("board: Kafka admin: %w", err)
	}
	return client, admin, nil
}

func (k *kafkaCluster) close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.admin == nil {
		return nil
	}
	err := k.admin.Close()
	k.client, k.admin = nil, nil
	return err
}

// partitions returns the partitions of topic, errUnknownTopic when it does not exist.
func partitions(client sarama.Client, topic string) ([]int32, error) {
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) || (err == nil && len(parts) == 0) {
		return nil, errUnknownTopic
	}
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	return parts, nil
}

func (k *kafkaCluster) scanKey(ctx context.Context, topic, key string, since time.Time, maxScanned int) (keyScan, error) {
	client, _, err := k.connect()
	if err != nil {
		return keyScan{}, err
	}
	parts, err := partitions(client, topic)
	if err != nil {
		return keyScan{}, err
	}
	// the partition the pipeline's producers (murmur2, as Kafka's Java producer) put key on
	p := kafka.PartitionFor([]byte(key), int32(len(parts)))
	end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return keyScan{}, fmt.Errorf("end of %s/%d: %w", topic, p, err)
	}
	at := sarama.OffsetOldest
	if !since.IsZero() {
		at = since.UnixMilli() // offsets for times: the first record at or after since
	}
	from, err := client.GetOffset(topic, p, at)
	if err != nil {
		return keyScan{}, fmt.Errorf("offset of %s/%d at %v: %w", topic, p, since, err)
	}
	if from < 0 { // no record at or after since
		from = end
	}
	consumer, err := sarama.NewConsumerFromClient(client) // one per scan: scans of one partition may overlap
	if err != nil {
		return keyScan{}, fmt.Errorf("consumer: %w", err)
	}
	defer consumer.Close()
	scan := keyScan{partition: p}
	scan.truncated, err = readRange(ctx, consumer, topic, p, from, end, maxScanned, func(m *sarama.ConsumerMessage) {
		if string(m.Key) != key {
			return
		}
		rec := keyedRecord{offset: m.Offset, time: m.Timestamp}
		for _, h := range m.Headers {
			switch string(h.Key) {
			case streams.HeaderEventType:
				rec.eventType = string(h.Value)
			case streams.HeaderEventID:
				rec.eventID = string(h.Value)
			}
		}
		scan.records = append(scan.records, rec)
	})
	return scan, err
}

// readRange calls fn for the records of topic/p from offset from to to (exclusive), at most
// maxScanned of them (0: no cap). truncated is true when it stopped at the cap, or because
// nothing arrived for scanIdleTimeout before to (offsets without records, or a stalled broker).
func readRange(ctx context.Context, consumer sarama.Consumer, topic string, p int32, from, to int64, maxScanned int,
	fn func(*sarama.ConsumerMessage)) (truncated bool, err error) {
	if to <= from {
		return false, nil
	}
	pc, err := consumer.ConsumePartition(topic, p, from)
	if err != nil {
		return false, fmt.Errorf("consume %s/%d from %d: %w", topic, p, from, err)
	}
	defer func() { _ = pc.Close() }()
	idle := time.NewTimer(scanIdleTimeout)
	defer idle.Stop()
	scanned := 0
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case cerr := <-pc.Errors():
			if cerr != nil {
				return false, fmt.Errorf("reading %s/%d: %w", topic, p, cerr)
			}
		case m, ok := <-pc.Messages():
			if !ok {
				return false, fmt.Errorf("reading %s/%d: consumer closed", topic, p)
			}
			fn(m)
			scanned++
			if m.Offset+1 >= to {
				return false, nil
			}
			if maxScanned > 0 && scanned >= maxScanned {
				return true, nil
			}
			idle.Reset(scanIdleTimeout)
		case <-idle.C:
			return true, nil
		}
	}
}

func (k *kafkaCluster) committed(_ context.Context, group string, parts map[string][]int32) (map[string]map[int32]int64, error) {
	_, admin, err := k.connect()
	if err != nil {
		return nil, err
	}
	resp, err := admin.ListConsumerGroupOffsets(group, parts)
	if err != nil {
		return nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	if resp.Err != sarama.ErrNoError {
		return nil, fmt.Errorf("offsets of group %s: %w", group, resp.Err)
	}
	out := map[string]map[int32]int64{}
	for topic, ps := range parts {
		out[topic] = map[int32]int64{}
		for _, p := range ps {
			off := int64(-1)
			if b := resp.GetBlock(topic, p); b != nil && b.Err == sarama.ErrNoError {
				off = b.Offset
			}
			out[topic][p] = off
		}
	}
	return out, nil
}

func (k *kafkaCluster) deadLetters(ctx context.Context, topic string, latest int) (deadLetterStats, error) {
	client, _, err := k.connect()
	if err != nil {
		return deadLetterStats{}, err
	}
	parts, err := partitions(client, topic)
	if err != nil {
		return deadLetterStats{}, err
	}
	type span struct {
		p          int32
		oldest, hw int64
	}
	var spans []span
	var stats deadLetterStats
	for _, p := range parts {
		hw, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return deadLetterStats{}, fmt.Errorf("end of %s/%d: %w", topic, p, err)
		}
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return deadLetterStats{}, fmt.Errorf("start of %s/%d: %w", topic, p, err)
		}
		if hw > oldest {
			stats.count += hw - oldest
			spans = append(spans, span{p, oldest, hw})
		}
	}
	if len(spans) == 0 || latest <= 0 {
		return stats, nil
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return deadLetterStats{}, fmt.Errorf("consumer: %w", err)
	}
	defer consumer.Close()
	for _, s := range spans { // the newest of each partition; the newest of those overall below
		_, err := readRange(ctx, consumer, topic, s.p, max(s.oldest, s.hw-int64(latest)), s.hw, latest, func(m *sarama.ConsumerMessage) {
			e := deadLetterEntry{partition: m.Partition, offset: m.Offset, time: m.Timestamp}
			for _, h := range m.Headers {
				switch string(h.Key) {
				case streams.HeaderDLQKind:
					e.kind = string(h.Value)
				case streams.HeaderDLQMessage:
					e.reason = truncate(string(h.Value), maxDeadLetterText)
				case streams.HeaderDLQProcessor:
					e.processor = string(h.Value)
				}
			}
			stats.latest = append(stats.latest, e)
		})
		if err != nil {
			return deadLetterStats{}, err
		}
	}
	slices.SortFunc(stats.latest, func(a, b deadLetterEntry) int {
		if c := b.time.Compare(a.time); c != 0 {
			return c
		}
		return cmp.Compare(b.offset, a.offset)
	})
	stats.latest = stats.latest[:min(latest, len(stats.latest))]
	return stats, nil
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func (k *kafkaCluster) replay(ctx context.Context, topic string) (int, error) {
	return deadletter.Replay(ctx, k.ep.Brokers, topic)
}

func (k *kafkaCluster) versions(ctx context.Context) ([]reprocess.VersionInfo, error) {
	return reprocess.Versions(ctx, k.ep, k.topology)
}
