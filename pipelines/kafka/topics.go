package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// Topic describes a topic orderflow owns.
type Topic struct {
	Name       string
	Partitions int32
	Compacted  bool              // cleanup.policy=compact (tables and changelogs)
	Config     map[string]string // extra topic settings
}

// ErrPartitionMismatch is returned when an existing topic has a different partition count than
// wanted: co-partitioned topics must agree, and Kafka cannot shrink a topic.
var ErrPartitionMismatch = errors.New("partition count mismatch")

// EnsureTopics creates the topics that do not exist and checks the partition count of those that
// do. It is idempotent and never deletes or alters data.
func EnsureTopics(admin sarama.ClusterAdmin, topics []Topic) error {
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var errs []error
	for _, t := range topics {
		if d, ok := existing[t.Name]; ok {
			if d.NumPartitions != t.Partitions {
				errs = append(errs, fmt.Errorf("topic %s has %d partitions, want %d: %w",
					t.Name, d.NumPartitions, t.Partitions, ErrPartitionMismatch))
			}
			continue
		}
		cfg := map[string]*string{}
		for k, v := range t.Config {
			cfg[k] = &v
		}
		if t.Compacted {
			compact := "compact"
			cfg["cleanup.policy"] = &compact
		}
		err := admin.CreateTopic(t.Name, &sarama.TopicDetail{NumPartitions: t.Partitions, ReplicationFactor: 1, ConfigEntries: cfg}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}

// NewAdmin returns a cluster admin with orderflow's client settings.
func NewAdmin(brokers []string) (sarama.ClusterAdmin, error) {
	admin, err := sarama.NewClusterAdmin(brokers, NewSaramaConfig("orderflow-admin"))
	if err != nil {
		return nil, fmt.Errorf("connect admin to %v: %w", brokers, err)
	}
	return admin, nil
}

// ReadPartition calls fn for every message of topic/partition from offset from (inclusive) to to
// (exclusive), in order, or until ctx ends.
func ReadPartition(ctx context.Context, consumer sarama.Consumer, topic string, partition int32, from, to int64, fn func(*sarama.ConsumerMessage)) error {
	if to <= from {
		return nil
	}
	pc, err := consumer.ConsumePartition(topic, partition, from)
	if err != nil {
		return fmt.Errorf("consume %s/%d from %d: %w", topic, partition, from, err)
	}
	defer pc.Close()
	for next := from; next < to; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-pc.Messages():
			next = m.Offset + 1
			fn(m)
		}
	}
	return nil
}

// ReadTopic calls fn for every message of every partition of topic, from the oldest offset to the
// end the partition had when its reading began, partition by partition.
func ReadTopic(ctx context.Context, client sarama.Client, topic string, fn func(*sarama.ConsumerMessage)) error {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", topic, err)
	}
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("end of %s/%d: %w", topic, p, err)
		}
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("start of %s/%d: %w", topic, p, err)
		}
		if err := ReadPartition(ctx, consumer, topic, p, oldest, end, fn); err != nil {
			return err
		}
	}
	return nil
}
