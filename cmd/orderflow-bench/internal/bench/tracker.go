package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// tracker watches, from the moment it starts, the order events topic (an OrderPlaced becoming
// visible to consumers: the CDC floor) and the order-status table topic (an order's terminal
// status becoming visible, which is what a view serves), and records when each was first seen.
type tracker struct {
	mu       sync.Mutex
	placed   map[string]time.Time // first OrderPlaced seen
	copies   map[string]int       // OrderPlaced records per order (more than one: a duplicate)
	terminal map[string]time.Time
	outcome  map[string]string
	consumer sarama.Consumer
	errs     chan error
}

func startTracker(brokers []string, serde *codec.Serde, orderEvents, statusTable string) (*tracker, error) {
	cfg := kafka.NewSaramaConfig("orderflow-bench-tracker")
	cfg.Consumer.Fetch.Default = 1 << 20
	cfg.Consumer.MaxWaitTime = 10 * time.Millisecond
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	t := &tracker{placed: map[string]time.Time{}, copies: map[string]int{}, terminal: map[string]time.Time{},
		outcome: map[string]string{}, consumer: consumer, errs: make(chan error, 64)}
	for _, topic := range []string{orderEvents, statusTable} {
		parts, err := consumer.Partitions(topic)
		if err != nil {
			consumer.Close()
			return nil, fmt.Errorf("tracker: %w", err)
		}
		for _, p := range parts {
			pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetNewest)
			if err != nil {
				consumer.Close()
				return nil, fmt.Errorf("tracker: %w", err)
			}
			isTable := topic == statusTable
			go func() {
				for m := range pc.Messages() {
					now := time.Now()
					if isTable {
						t.onStatus(serde, m, now)
					} else {
						t.onPlaced(m, now)
					}
				}
			}()
		}
	}
	return t, nil
}

func (t *tracker) onPlaced(m *sarama.ConsumerMessage, now time.Time) {
	id := string(m.Key)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.placed[id]; !ok {
		t.placed[id] = now
	}
	t.copies[id]++
}

func (t *tracker) onStatus(serde *codec.Serde, m *sarama.ConsumerMessage, now time.Time) {
	if m.Value == nil {
		return
	}
	v, err := serde.Decode(m.Value)
	if err != nil {
		select {
		case t.errs <- fmt.Errorf("tracker: decode %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err):
		default:
		}
		return
	}
	s, ok := v.(schemas.OrderStatus)
	if !ok || (s.Status != schemas.StatusShipped && s.Status != schemas.StatusCancelled) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.terminal[s.OrderID]; !ok {
		t.terminal[s.OrderID] = now
		o := string(s.Status)
		if s.Reason != nil {
			o += "/" + string(*s.Reason)
		}
		t.outcome[s.OrderID] = o
	}
}

// seen returns when id's OrderPlaced and terminal status were first seen (zero if not yet).
func (t *tracker) seen(id string) (placed, terminal time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.placed[id], t.terminal[id]
}

// waitTerminal waits until every id is terminal or ctx ends; it returns how many are.
func (t *tracker) waitTerminal(ctx context.Context, ids []string) int {
	for {
		n := 0
		t.mu.Lock()
		for _, id := range ids {
			if _, ok := t.terminal[id]; ok {
				n++
			}
		}
		t.mu.Unlock()
		if n == len(ids) || ctx.Err() != nil {
			return n
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// check counts, for ids, the orders never placed or never terminal and the duplicated
// OrderPlaced records, and tallies the outcomes.
func (t *tracker) check(ids []string) (missingPlaced, missingTerminal, duplicated int, outcomes map[string]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	outcomes = map[string]int{}
	for _, id := range ids {
		if _, ok := t.placed[id]; !ok {
			missingPlaced++
		}
		if _, ok := t.terminal[id]; !ok {
			missingTerminal++
		}
		if t.copies[id] > 1 {
			duplicated++
		}
		outcomes[t.outcome[id]]++
	}
	return
}

func (t *tracker) close() { t.consumer.Close() }
