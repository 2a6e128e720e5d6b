// Package lag measures how far orderflow's consumer groups are behind their input topics, in
// messages (offset lag) and in time (age of the oldest unprocessed message), against an SLO.
//
// Consumes: consumer-group offsets and partition end offsets from Kafka, and for a lagging
// partition the timestamp of its oldest unprocessed message. Keeps nothing. Emits measurements
// for `orderflow lag` and the Prometheus collector.
package lag

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/internal/kafka"
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

// Measure returns the lag of every group on every partition of its topics, sorted. End offsets
// are fetched with one request per broker and the oldest unprocessed messages are read in
// parallel, so a scrape stays fast when every partition lags.
func (m *Meter) Measure(ctx context.Context, groups map[string][]string) ([]Partition, error) {
	if err := m.client.RefreshMetadata(); err != nil {
		return nil, fmt.Errorf("lag: metadata: %w", err)
	}
	parts := map[string][]int32{}
	for _, topics := range groups {
		for _, tp := range topics {
			if _, ok := parts[tp]; ok {
				continue
			}
			ps, err := m.client.Partitions(tp)
			if err != nil {
				return nil, fmt.Errorf("lag: partitions of %s: %w", tp, err)
			}
			parts[tp] = ps
		}
	}
	ends, err := m.offsets(parts, sarama.OffsetNewest)
	if err != nil {
		return nil, err
	}
	var starts map[topicPartition]int64 // oldest offsets, fetched only if a group committed nothing
	var out []Partition
	now := time.Now()
	for group, topics := range groups {
		mine := map[string][]int32{}
		for _, tp := range topics {
			mine[tp] = parts[tp]
		}
		offs, err := m.admin.ListConsumerGroupOffsets(group, mine)
		if err != nil {
			return nil, fmt.Errorf("lag: offsets of %s: %w", group, err)
		}
		for tp, ps := range mine {
			for _, p := range ps {
				pl := Partition{Group: group, Topic: tp, Partition: p, End: ends[topicPartition{tp, p}], Committed: -1}
				if b := offs.GetBlock(tp, p); b != nil {
					// an error (the group's coordinator moving, loading its offsets) leaves the
					// offset unknown, not "nothing committed": the lag would read as the whole topic
					if !errors.Is(b.Err, sarama.ErrNoError) {
						return nil, fmt.Errorf("lag: offset of %s on %s/%d: %w", group, tp, p, b.Err)
					}
					pl.Committed = b.Offset
				}
				from := pl.Committed
				if from < 0 {
					if starts == nil {
						if starts, err = m.offsets(parts, sarama.OffsetOldest); err != nil {
							return nil, err
						}
					}
					from = starts[topicPartition{tp, p}]
				}
				pl.Lag = max(0, pl.End-from)
				out = append(out, pl)
			}
		}
	}
	// time lag: the age of the first unprocessed message of each lagging partition
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range out {
		pl := &out[i]
		if pl.Lag == 0 {
			continue
		}
		from := pl.End - pl.Lag
		g.Go(func() error {
			if ts, err := m.timestampAt(gctx, pl.Topic, pl.Partition, from); err == nil {
				pl.TimeLag = max(0, now.Sub(ts))
			}
			return nil
		})
	}
	_ = g.Wait()
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

type topicPartition struct {
	topic     string
	partition int32
}

// offsets returns the newest or oldest offset (at) of every partition, with one ListOffsets
// request per partition leader.
func (m *Meter) offsets(parts map[string][]int32, at int64) (map[topicPartition]int64, error) {
	byLeader := map[*sarama.Broker]*sarama.OffsetRequest{}
	for tp, ps := range parts {
		for _, p := range ps {
			leader, err := m.client.Leader(tp, p)
			if err != nil {
				return nil, fmt.Errorf("lag: leader of %s/%d: %w", tp, p, err)
			}
			req := byLeader[leader]
			if req == nil {
				req = &sarama.OffsetRequest{Version: 1}
				byLeader[leader] = req
			}
			req.AddBlock(tp, p, at, 1)
		}
	}
	out := map[topicPartition]int64{}
	for leader, req := range byLeader {
		resp, err := leader.GetAvailableOffsets(req)
		if err != nil {
			return nil, fmt.Errorf("lag: list offsets from broker %d: %w", leader.ID(), err)
		}
		for tp, ps := range parts {
			for _, p := range ps {
				b := resp.GetBlock(tp, p)
				if b == nil {
					continue
				}
				if b.Err != sarama.ErrNoError {
					return nil, fmt.Errorf("lag: offset of %s/%d: %w", tp, p, b.Err)
				}
				out[topicPartition{tp, p}] = b.Offset
			}
		}
	}
	for tp, ps := range parts {
		for _, p := range ps {
			if _, ok := out[topicPartition{tp, p}]; !ok {
				return nil, fmt.Errorf("lag: no offset for %s/%d", tp, p)
			}
		}
	}
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

// DefaultSLO is the lag SLO unless said otherwise: the age of the oldest unprocessed message.
const DefaultSLO = 10 * time.Second

// Total returns the sum of the offset lag of ps.
func Total(ps []Partition) int64 {
	var total int64
	for _, p := range ps {
		total += p.Lag
	}
	return total
}

// WaitCaughtUp measures every interval until no group lags on any partition of its topics, or
// ctx ends; then the error names a partition that still lags (or the last measuring error).
func (m *Meter) WaitCaughtUp(ctx context.Context, groups map[string][]string, interval time.Duration) error {
	for {
		ps, err := m.Measure(ctx, groups)
		if err == nil {
			for _, p := range ps {
				if p.Lag > 0 {
					err = fmt.Errorf("group %s lags on %s/%d: committed %d, end %d", p.Group, p.Topic, p.Partition, p.Committed, p.End)
					break
				}
			}
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(interval):
		}
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
