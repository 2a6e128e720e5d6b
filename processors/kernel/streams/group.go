package streams

import (
	"context"
	"errors"
	"log/slog"
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

// trackedHandler records whether a session started.
type trackedHandler struct {
	sarama.ConsumerGroupHandler
	started bool
}

func (h *trackedHandler) Setup(s sarama.ConsumerGroupSession) error {
	err := h.ConsumerGroupHandler.Setup(s)
	h.started = h.started || err == nil
	return err
}

func (g *resilientGroup) Consume(ctx context.Context, topics []string, handler sarama.ConsumerGroupHandler) error {
	var deadline time.Time
	pause := 250 * time.Millisecond
	for {
		h := &trackedHandler{ConsumerGroupHandler: handler}
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
