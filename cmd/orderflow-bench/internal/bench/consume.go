package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Measure is one timed pass over a known number of events.
type Measure struct {
	Seconds   float64 `json:"seconds"`
	Events    int64   `json:"events"`
	PerSecond float64 `json:"per_second"`
}

func measure(events int64, d time.Duration) Measure {
	return Measure{Seconds: d.Seconds(), Events: events, PerSecond: float64(events) / d.Seconds()}
}

// groupHandler counts messages and calls handle on each; it cancels the run at want.
type groupHandler struct {
	handle func(*sarama.ConsumerMessage) error
	seen   atomic.Int64
	want   int64
	done   context.CancelFunc
	err    atomic.Pointer[error]
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		if h.handle != nil {
			if err := h.handle(m); err != nil {
				h.err.CompareAndSwap(nil, &err)
				h.done()
				return err
			}
		}
		s.MarkMessage(m, "")
		if h.seen.Add(1) >= h.want {
			h.done()
		}
	}
	return nil
}

// consumeGroup reads topics from the oldest offsets in a new consumer group until want messages
// were handled (a sarama consumer group, as a hand-rolled consumer would be written) and
// returns the time from joining to the last message.
func consumeGroup(ctx context.Context, brokers []string, group string, topics []string, want int64, handle func(*sarama.ConsumerMessage) error) (Measure, error) {
	cfg := kafka.NewSaramaConfig(group)
	cg, err := sarama.NewConsumerGroup(brokers, group, cfg)
	if err != nil {
		return Measure{}, fmt.Errorf("consumer group %s: %w", group, err)
	}
	defer cg.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &groupHandler{handle: handle, want: want, done: cancel}
	start := time.Now()
	for runCtx.Err() == nil {
		if err := cg.Consume(runCtx, topics, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return Measure{}, fmt.Errorf("consumer group %s: %w", group, err)
		}
	}
	elapsed := time.Since(start)
	if p := h.err.Load(); p != nil {
		return Measure{}, *p
	}
	if ctx.Err() != nil {
		return Measure{}, ctx.Err()
	}
	if got := h.seen.Load(); got != want {
		return Measure{}, fmt.Errorf("consumer group %s: handled %d messages, want %d", group, got, want)
	}
	return measure(want, elapsed), nil
}

// noOp is baseline (b): a consumer group whose handler does nothing.
func noOp(ctx context.Context, brokers []string, group string, topics []string, want int64) (Measure, error) {
	return consumeGroup(ctx, brokers, group, topics, want, nil)
}

// passThrough is baseline (a): a consumer group that decodes each event (Avro, registry),
// re-encodes it and produces it to sink, keyed as it came; it ends when every event produced is
// acknowledged.
func passThrough(ctx context.Context, brokers []string, serde *codec.Serde, group, sink string, topics []string, want int64) (Measure, error) {
	cfg := kafka.NewProducerConfig(group + "-producer")
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	producer, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		return Measure{}, fmt.Errorf("pass-through: %w", err)
	}
	acked := make(chan ackResult, 1)
	go func() { acked <- drainAcks(producer) }()
	start := time.Now()
	_, err = consumeGroup(ctx, brokers, group, topics, want, func(m *sarama.ConsumerMessage) error {
		ev, err := serde.Decode(m.Value)
		if err != nil {
			return fmt.Errorf("pass-through: decode %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
		}
		out, err := serde.Encode(ev)
		if err != nil {
			return fmt.Errorf("pass-through: encode: %w", err)
		}
		producer.Input() <- &sarama.ProducerMessage{Topic: sink, Key: sarama.ByteEncoder(m.Key), Value: sarama.ByteEncoder(out)}
		return nil
	})
	producer.AsyncClose()
	ack := <-acked
	elapsed := time.Since(start)
	if err != nil {
		return Measure{}, err
	}
	if ack.err != nil {
		return Measure{}, fmt.Errorf("pass-through: produce: %w", ack.err)
	}
	if ack.acked != want {
		return Measure{}, fmt.Errorf("pass-through: %d events produced, want %d", ack.acked, want)
	}
	return measure(want, elapsed), nil
}
