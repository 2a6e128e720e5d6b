package topology

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/kafka"
)

// VersionsTopic is the compacted topic that records the serving table version of each processor
// (key: processor, value: version; empty for the unversioned one).
func (t Topology) VersionsTopic() string { return t.Prefix + ".table-versions" }

// LoadVersions returns the serving table version of every processor recorded in the versions
// topic (an empty map when nothing was ever switched).
func LoadVersions(ctx context.Context, brokers []string, t Topology) (map[string]string, error) {
	client, err := sarama.NewClient(brokers, kafka.NewSaramaConfig("orderflow-versions"))
	if err != nil {
		return nil, fmt.Errorf("table versions: %w", err)
	}
	defer client.Close()
	versions := map[string]string{}
	err = kafka.ReadTopic(ctx, client, t.VersionsTopic(), func(m *sarama.ConsumerMessage) {
		if m.Value == nil {
			delete(versions, string(m.Key))
		} else {
			versions[string(m.Key)] = string(m.Value)
		}
	})
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return versions, nil
	}
	if err != nil {
		return nil, fmt.Errorf("table versions: read %s: %w", t.VersionsTopic(), err)
	}
	return versions, nil
}

// SaveVersion records version as the serving table version of processor.
func SaveVersion(brokers []string, t Topology, processor, version string) error {
	admin, err := kafka.NewAdmin(brokers)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := kafka.EnsureTopics(admin, []kafka.Topic{{Name: t.VersionsTopic(), Partitions: 1, Compacted: true}}); err != nil {
		return fmt.Errorf("table versions: %w", err)
	}
	producer, err := sarama.NewSyncProducer(brokers, kafka.NewProducerConfig("orderflow-versions"))
	if err != nil {
		return fmt.Errorf("table versions: %w", err)
	}
	defer producer.Close()
	_, _, err = producer.SendMessage(&sarama.ProducerMessage{Topic: t.VersionsTopic(),
		Key: sarama.StringEncoder(processor), Value: sarama.StringEncoder(version)})
	if err != nil {
		return fmt.Errorf("table versions: record %s=%q: %w", processor, version, err)
	}
	return nil
}
