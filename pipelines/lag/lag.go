// Package lag measures how far orderflow's consumer groups are behind their input topics, in
// messages (offset lag) and in time (age of the oldest unprocessed message), against an SLO.
//
// Consumes: consumer-group offsets and partition end offsets from Kafka, and for a lagging
// partition the timestamp of its oldest unprocessed message. Keeps nothing. Emits measurements
// for `orderflow lag` and the Prometheus collector.
package lag

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/pipelines/kafka"
)

// Partition is the lag of one group on one partition.
type Partition struct {
	Group     string
	Topic     string
	Partition int32
	End       int64 // high-water mark
	Committed int64 // -1 when the group has committed nothing
	Lag       int64
	TimeLag   time.Duration // now − timestamp of the oldest unprocessed message (0 when caught up)
}

// Meter measures lag with one Kafka client.
type Meter struct {
	client   sarama.Client
	admin    sarama.ClusterAdmin
	consumer sarama.Consumer
}

// NewMeter connects to the brokers.
func NewMeter(brokers []string) (*Meter, error) {
	client, err := sarama.NewClient(brokers, kafka.NewSaramaConfig("orderflow-lag"))
	if err != nil {
		return nil, fmt.Errorf("lag: %w", err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		client.Close()
		return nil, err
	}
	return &Meter{client: client, admin: admin, consumer: consumer}, nil
}

// Close releases the client.
func (m *Meter) Close() error {
	m.consumer.Close()
	return m.admin.Close() // closes the client too
}

// Measure returns the lag of every group on every partition of its topics, sorted.
func (m *Meter) Measure(ctx context.Context, groups map[string][]string) ([]Partition, error) {
	if err := m.client.RefreshMetadata(); err != nil {
		return nil, fmt.Errorf("lag: metadata: %w", err)
	}
	var out []Partition
	now := time.Now()
	for group, topics := range groups {
		parts := map[string][]int32{}
		for _, tp := range topics {
			ps, err := m.client.Partitions(tp)
			if err != nil {
				return nil, fmt.Errorf("lag: partitions of %s: %w", tp, err)
			}
			parts[tp] = ps
		}
		offs, err := m.admin.ListConsumerGroupOffsets(group, parts)
		if err != nil {
			return nil, fmt.Errorf("lag: offsets of %s: %w", group, err)
		}
		for tp, ps := range parts {
			for _, p := range ps {
				end, err := m.client.GetOffset(tp, p, sarama.OffsetNewest)
				if err != nil {
					return nil, fmt.Errorf("lag: end of %s/%d: %w", tp, p, err)
				}
				pl := Partition{Group: group, Topic: tp, Partition: p, End: end, Committed: -1}
				if b := offs.GetBlock(tp, p); b != nil {
					pl.Committed = b.Offset
				}
				from := pl.Committed
				if from < 0 {
					if from, err = m.client.GetOffset(tp, p, sarama.OffsetOldest); err != nil {
						return nil, err
					}
				}
				pl.Lag = max(0, end-from)
				if pl.Lag > 0 {
					if ts, err := m.timestampAt(ctx, tp, p, from); err == nil {
						pl.TimeLag = max(0, now.Sub(ts))
					}
				}
				out = append(out, pl)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return out, nil
}

// timestampAt reads the timestamp of the message at offset.
func (m *Meter) timestampAt(ctx context.Context, topic string, p int32, offset int64) (time.Time, error) {
	pc, err := m.consumer.ConsumePartition(topic, p, offset)
	if err != nil {
		return time.Time{}, err
	}
	defer pc.Close()
	select {
	case msg := <-pc.Messages():
		return msg.Timestamp, nil
	case <-time.After(2 * time.Second):
		return time.Time{}, fmt.Errorf("no message at %s/%d@%d", topic, p, offset)
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// Breaches returns the partitions whose time lag exceeds slo.
func Breaches(ps []Partition, slo time.Duration) []Partition {
	var out []Partition
	for _, p := range ps {
		if p.TimeLag > slo {
			out = append(out, p)
		}
	}
	return out
}
