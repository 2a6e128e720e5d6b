// Package deadletter reads and replays orderflow's dead-letter topics (<topic>.dlq).
//
// Consumes: dead-letter topics, written by processors (streams.DeadLetter) with the poison
// message's key, payload and headers plus dlq.* headers (origin topic, partition, offset,
// processor, error kind and message, time). Keeps: the replay position per dead-letter topic as
// the committed offsets of consumer group <dlq topic>.replay. Emits: replayed messages on their
// origin topic, once per origin message even when several processors dead-lettered it.
package deadletter

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/processors/kernel/streams"
)

// Entry is one dead letter.
type Entry struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Value     []byte
	Headers   map[string]string
	Timestamp time.Time
}

// Origin returns "topic/partition@offset" of the message that was dead-lettered.
func (e Entry) Origin() string {
	return fmt.Sprintf("%s/%s@%s", e.Headers[streams.HeaderDLQTopic], e.Headers[streams.HeaderDLQPartition], e.Headers[streams.HeaderDLQOffset])
}

// Read returns every dead letter of topic, oldest first per partition (up to limit, 0 = all).
func Read(ctx context.Context, brokers []string, topic string, limit int) ([]Entry, error) {
	client, err := sarama.NewClient(brokers, kafka.NewSaramaConfig("orderflow-dlq"))
	if err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	defer client.Close()
	var out []Entry
	if err := kafka.ReadTopic(ctx, client, topic, func(m *sarama.ConsumerMessage) { out = append(out, entryOf(m)) }); err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp.Before(out[j].Timestamp) })
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

func readRange(ctx context.Context, consumer sarama.Consumer, topic string, p int32, from, to int64) ([]Entry, error) {
	var out []Entry
	err := kafka.ReadPartition(ctx, consumer, topic, p, from, to, func(m *sarama.ConsumerMessage) { out = append(out, entryOf(m)) })
	return out, err
}

func entryOf(m *sarama.ConsumerMessage) Entry {
	e := Entry{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Value: m.Value,
		Headers: map[string]string{}, Timestamp: m.Timestamp}
	for _, h := range m.Headers {
		e.Headers[string(h.Key)] = string(h.Value)
	}
	return e
}

// Replay re-publishes the dead letters of topic that were not replayed before to their origin
// topic, with their key, payload and original headers (the dlq.* headers are dropped, a
// dlq.replayed-from header is added). Several processors may have dead-lettered the same origin
// message; it is replayed once. It returns the number of messages re-published.
func Replay(ctx context.Context, brokers []string, topic string) (int, error) {
	client, err := sarama.NewClient(brokers, kafka.NewProducerConfig("orderflow-dlq-replay"))
	if err != nil {
		return 0, fmt.Errorf("dlq: %w", err)
	}
	defer client.Close()
	group := topic + ".replay"
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		return 0, err
	}
	defer om.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return 0, err
	}
	defer producer.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, err
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return 0, fmt.Errorf("dlq: partitions of %s: %w", topic, err)
	}
	replayed := 0
	seen := map[string]bool{}
	for _, p := range parts {
		pom, err := om.ManagePartition(topic, p)
		if err != nil {
			return replayed, err
		}
		from, _ := pom.NextOffset()
		if from < 0 {
			if from, err = client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
				pom.Close()
				return replayed, err
			}
		}
		to, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			pom.Close()
			return replayed, err
		}
		entries, err := readRange(ctx, consumer, topic, p, from, to)
		if err != nil {
			pom.Close()
			return replayed, err
		}
		for _, e := range entries {
			origin := e.Headers[streams.HeaderDLQTopic]
			if origin == "" || seen[e.Origin()] {
				pom.MarkOffset(e.Offset+1, "")
				continue
			}
			seen[e.Origin()] = true
			msg := &sarama.ProducerMessage{Topic: origin, Key: sarama.StringEncoder(e.Key), Value: sarama.ByteEncoder(e.Value)}
			for k, v := range e.Headers {
				if !strings.HasPrefix(k, "dlq.") {
					msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
				}
			}
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte("dlq.replayed-from"), Value: []byte(fmt.Sprintf("%s/%d@%d", e.Topic, e.Partition, e.Offset))})
			if _, _, err := producer.SendMessage(msg); err != nil {
				pom.Close()
				return replayed, fmt.Errorf("dlq: replay %s to %s: %w", e.Origin(), origin, err)
			}
			replayed++
			pom.MarkOffset(e.Offset+1, "")
		}
		pom.Close()
	}
	om.Commit()
	return replayed, nil
}
