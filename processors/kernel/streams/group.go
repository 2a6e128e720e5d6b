package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// groupRetryBudget is how long a processor's consumer group keeps trying to join its group after
// a failure before the processor gives up (and stops with the error, for its supervisor to see).
const groupRetryBudget = 2 * time.Minute

// consumerGroupBuilder builds goka's consumer groups so that a broker's failure does not stop the
// processor (resilientGroup).
func consumerGroupBuilder(config *sarama.Config) goka.ConsumerGroupBuilder {
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cfg := *config
		cfg.ClientID = clientID
		client, err := sarama.NewClient(brokers, &cfg)
		if err != nil {
			return nil, err
		}
		cg, err := sarama.NewConsumerGroupFromClient(group, client)
		if err != nil {
			client.Close()
			return nil, err
		}
		return &resilientGroup{ConsumerGroup: cg, group: group, budget: groupRetryBudget,
			refresh: func() error { return client.RefreshCoordinator(group) }, closeClient: client.Close}, nil
	}
}

// resilientGroup is a sarama consumer group whose Consume tries again when joining the group
// fails. goka stops a processor on any error of Consume, and sarama returns one at once when the
// group's coordinator cannot be reached: a broker killed or paused stopped every processor whose
// group it coordinated, although the cluster elects a new coordinator within seconds. Here the
// coordinator is looked up again and the join retried (250 ms doubling to 2 s) for up to budget,
// counted from the first failure since the last session that started; a cancelled ctx returns
// nil. goka's own failures (a message that failed to process) come back through the same error,
// and goka's types for them are its own: they are retried too, and stop the processor once the
// budget is spent. (Telling them apart, to stop at once, made a broker's failure stop the
// processors again: goka's Cleanup reports the partition consumers' connection errors.)
type resilientGroup struct {
	sarama.ConsumerGroup
	group       string
	budget      time.Duration
	refresh     func() error // looks the group's coordinator up again
	closeClient func() error
}

// trackedHandler records whether a session started, logs each session's start and end with its
// generation and claims (the record an operator needs to follow partitions moving between
// instances), and hands goka each partition's inputs as one stream merged by timestamp (merger)
// through orderedSession, so that an input's offset is committed only once every earlier input
// of its partition is done.
type trackedHandler struct {
	sarama.ConsumerGroupHandler
	group      string
	started    bool
	session    *orderedSession
	partitions map[int32]*partitionClaims
}

// partitionClaims gathers the claims of one partition's input topics: sarama hands each to
// ConsumeClaim in a goroutine of its own, and the last to arrive runs goka's ConsumeClaim with
// all of them merged; the others wait for it to end.
type partitionClaims struct {
	mu     sync.Mutex
	want   int
	claims []sarama.ConsumerGroupClaim
	done   chan struct{}
}

// add records c and reports whether it completes the partition's claims.
func (p *partitionClaims) add(c sarama.ConsumerGroupClaim) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims = append(p.claims, c)
	return len(p.claims) == p.want
}

// sorted is the partition's claims in a fixed order (by topic), which breaks timestamp ties.
func (p *partitionClaims) sorted() []sarama.ConsumerGroupClaim {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.SortedFunc(slices.Values(p.claims), func(a, b sarama.ConsumerGroupClaim) int { return strings.Compare(a.Topic(), b.Topic()) })
}

func (h *trackedHandler) Setup(s sarama.ConsumerGroupSession) error {
	slog.Info("consumer group session started", "group", h.group, "member", s.MemberID(),
		"generation", s.GenerationID(), "claims", claimed(s.Claims()))
	h.session = newOrderedSession(s)
	h.partitions = map[int32]*partitionClaims{}
	for _, parts := range s.Claims() {
		for _, part := range parts {
			if h.partitions[part] == nil {
				h.partitions[part] = &partitionClaims{done: make(chan struct{})}
			}
			h.partitions[part].want++
		}
	}
	err := h.ConsumerGroupHandler.Setup(h.session)
	h.started = h.started || err == nil
	return err
}

func (h *trackedHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	h.session.register(c.Topic(), c.Partition())
	p := h.partitions[c.Partition()]
	if !p.add(c) {
		select { // the partition's last claim runs the merge
		case <-p.done:
		case <-s.Context().Done():
		}
		return nil
	}
	defer close(p.done)
	stop := make(chan struct{})
	defer close(stop)
	m := newMerger(p.sorted(), func(msg *sarama.ConsumerMessage) { h.session.delivered(msg.Topic, msg.Partition, msg.Offset) })
	go m.run(stop)
	return h.ConsumerGroupHandler.ConsumeClaim(h.session, mergedClaim{ConsumerGroupClaim: c, messages: m.out})
}

// mergedClaim is a claim whose messages are its partition's inputs of every topic, merged.
type mergedClaim struct {
	sarama.ConsumerGroupClaim
	messages <-chan *sarama.ConsumerMessage
}

func (c mergedClaim) Messages() <-chan *sarama.ConsumerMessage { return c.messages }

func (h *trackedHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	err := h.ConsumerGroupHandler.Cleanup(h.session)
	slog.Info("consumer group session ended", "group", h.group, "member", s.MemberID(),
		"generation", s.GenerationID(), "err", err)
	return err
}

// orderedSession is a consumer group session that commits in order. goka marks an input's
// offset as soon as that input's own emits and table write are acknowledged, and the
// acknowledgements of different brokers arrive in any order: with a partition leader slow or
// gone, a later input's mark committed the offset past an earlier input whose emits were still
// being retried, and when those failed (or the process died) the earlier input was never
// delivered again: at-least-once broken. (The chaos run found it: an order's HOLDs lost, its
// reservation waiting for replies forever.) Here a mark only records its input as done, and the
// offset committed is the one after the longest run of done inputs from the oldest delivered.
type orderedSession struct {
	sarama.ConsumerGroupSession
	mu    sync.Mutex
	parts map[topicPartition]*deliveries
}

type topicPartition struct {
	topic     string
	partition int32
}

// deliveries are a partition's inputs handed to goka and not yet committed, oldest first, and
// the offsets among them that are done.
type deliveries struct {
	pending []int64
	done    map[int64]bool
}

func newOrderedSession(s sarama.ConsumerGroupSession) *orderedSession {
	return &orderedSession{ConsumerGroupSession: s, parts: map[topicPartition]*deliveries{}}
}

// register starts tracking the inputs of a topic-partition.
func (s *orderedSession) register(topic string, partition int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts[topicPartition{topic, partition}] = &deliveries{done: map[int64]bool{}}
}

// delivered records an input as handed to goka (in each topic-partition's offset order).
func (s *orderedSession) delivered(topic string, partition int32, offset int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.parts[topicPartition{topic, partition}]; d != nil {
		d.pending = append(d.pending, offset)
	}
}

// MarkOffset records the input before offset (goka marks an input's offset plus one) as done and
// commits up to the first input still pending.
func (s *orderedSession) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.parts[topicPartition{topic, partition}]
	if d == nil { // a topic-partition not registered by ConsumeClaim
		s.ConsumerGroupSession.MarkOffset(topic, partition, offset, metadata)
		return
	}
	d.done[offset-1] = true
	next := int64(-1)
	for len(d.pending) > 0 && d.done[d.pending[0]] {
		delete(d.done, d.pending[0])
		next = d.pending[0] + 1
		d.pending = d.pending[1:]
	}
	if next >= 0 {
		s.ConsumerGroupSession.MarkOffset(topic, partition, next, metadata)
	}
}

// claimed lists a session's claims compactly: the partitions of its first topic (every input
// of a processor is co-partitioned, so the others have the same) and the number of topics.
func claimed(claims map[string][]int32) string {
	if len(claims) == 0 {
		return "none"
	}
	topics := slices.Sorted(maps.Keys(claims))
	parts := slices.Sorted(slices.Values(claims[topics[0]]))
	return fmt.Sprintf("partitions %v of %d topic(s)", parts, len(topics))
}

func (g *resilientGroup) Consume(ctx context.Context, topics []string, handler sarama.ConsumerGroupHandler) error {
	var deadline time.Time
	pause := 250 * time.Millisecond
	for {
		h := &trackedHandler{ConsumerGroupHandler: handler, group: g.group}
		err := g.ConsumerGroup.Consume(ctx, topics, h)
		switch {
		case err == nil || errors.Is(err, sarama.ErrClosedConsumerGroup) || errors.Is(err, sarama.ErrClosedClient):
			return err
		case ctx.Err() != nil:
			return nil // stopping: the join's error is no failure
		case h.started || deadline.IsZero(): // a new run of failures
			deadline, pause = time.Now().Add(g.budget), 250*time.Millisecond
		}
		if time.Now().Add(pause).After(deadline) {
			return err
		}
		slog.Warn("consumer group: joining again", "group", g.group, "in", pause, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		_ = g.refresh()
		pause = min(2*pause, 2*time.Second)
	}
}

func (g *resilientGroup) Close() error {
	return errors.Join(g.ConsumerGroup.Close(), g.closeClient())
}
