// Package timers gives goka processors durable deadlines. Goka has no timers (lovoo/goka#446), so
// a processor keeps each key's deadline in its own group table, and a Scheduler fires it.
//
// Consumes: the owner's group table topic (its compacted changelog), every partition, from the
// start. Keeps: in memory only, the pending deadline of each key whose table value has one (a
// min-heap), rebuilt from the changelog at every start — so deadlines survive restarts and
// rebalances with the table itself, and the scheduler holds nothing of its own. Emits: TimerFired
// {key, deadline} on the firings topic, keyed by the key, when the deadline has passed.
//
// Firing is at least once: a restart, or several instances each running a scheduler, fire a
// deadline again. The owner acts on a firing only when its deadline is the one in effect in the
// key's state and has not been acted on, so a cancelled or moved deadline never acts and a
// deadline acts once. Until the changelog is read to its end at start, nothing fires: a value
// read early may be superseded by a later one that cancels it.
package timers

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// PendingFunc reads a table value: the deadline it holds and whether one is pending. A nil value
// (a tombstone) never reaches it.
type PendingFunc func(key string, value []byte) (deadline time.Time, pending bool, err error)

// Config describes a Scheduler.
type Config struct {
	Brokers []string
	Table   goka.Table  // the owner's group table topic
	Firings goka.Stream // where TimerFired goes, keyed like the table
	Pending PendingFunc
	Serde   *codec.Serde
	Tick    time.Duration    // how often due deadlines are looked for (default 250 ms)
	Now     func() time.Time // default time.Now
}

// Scheduler fires the deadlines of one table; Run it once per process that runs the owner.
type Scheduler struct {
	cfg     Config
	due     *schedule
	emitter *goka.Emitter
}

// New creates the scheduler (nothing runs until Run).
func New(cfg Config) (*Scheduler, error) {
	if cfg.Pending == nil || cfg.Serde == nil || cfg.Table == "" || cfg.Firings == "" {
		return nil, errors.New("timers: table, firings topic, pending function and serde are required")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 250 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scheduler{cfg: cfg, due: newSchedule()}, nil
}

// Pending returns how many keys have a deadline not yet fired by this process.
func (s *Scheduler) Pending() int { return s.due.len() }

// Run reads the table and fires due deadlines until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	emitter, err := streams.NewEmitter(s.cfg.Brokers, s.cfg.Firings)
	if err != nil {
		return fmt.Errorf("timers: emitter for %s: %w", s.cfg.Firings, err)
	}
	s.emitter = emitter
	defer emitter.Finish()

	client, err := sarama.NewClient(s.cfg.Brokers, kafka.NewSaramaConfig("timers-"+string(s.cfg.Table)))
	if err != nil {
		return fmt.Errorf("timers: connect: %w", err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("timers: consumer: %w", err)
	}
	defer consumer.Close()
	topic := string(s.cfg.Table)
	partitions, err := client.Partitions(topic)
	if err != nil {
		return fmt.Errorf("timers: partitions of %s: %w", topic, err)
	}

	var following sync.WaitGroup
	defer following.Wait() // after cancel, before the consumer closes
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var caughtUp sync.WaitGroup
	for _, p := range partitions {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("timers: end of %s/%d: %w", topic, p, err)
		}
		start, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("timers: start of %s/%d: %w", topic, p, err)
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("timers: read %s/%d: %w", topic, p, err)
		}
		caughtUp.Add(1)
		following.Add(1)
		go func() {
			defer following.Done()
			defer pc.Close()
			s.follow(ctx, pc, end <= start, end, caughtUp.Done)
		}()
	}
	ready := make(chan struct{})
	go func() { caughtUp.Wait(); close(ready) }()

	tick := time.NewTicker(s.cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			select {
			case <-ready:
				s.fireDue(ctx)
			default: // still reading the table: a later value may cancel an early one
			}
		}
	}
}

// follow applies one partition's changelog to the schedule; caughtUp is called once the records
// that were there at start (up to end; none when empty) are read. It returns when ctx ends.
func (s *Scheduler) follow(ctx context.Context, pc sarama.PartitionConsumer, empty bool, end int64, caughtUp func()) {
	var once sync.Once
	if empty {
		once.Do(caughtUp)
	}
	for {
		select {
		case <-ctx.Done():
			once.Do(caughtUp)
			return
		case err := <-pc.Errors():
			// sarama goes on retrying (a broker restarting, a leader moving): so does the scheduler
			slog.Warn("timers: reading the table", "table", s.cfg.Table, "err", err)
		case m := <-pc.Messages():
			s.apply(string(m.Key), m.Value)
			if m.Offset+1 >= end {
				once.Do(caughtUp)
			}
		}
	}
}

// apply brings the schedule up to date with one table record.
func (s *Scheduler) apply(key string, value []byte) {
	if value == nil {
		s.due.set(key, time.Time{}, false)
		return
	}
	deadline, pending, err := s.cfg.Pending(key, value)
	if err != nil {
		slog.Warn("timers: table value not read; its deadline is ignored", "table", s.cfg.Table, "key", key, "err", err)
		pending = false
	}
	s.due.set(key, deadline, pending)
}

// fireDue emits TimerFired for every deadline that has passed. One that cannot be sent stays due
// and is tried again at the next tick.
func (s *Scheduler) fireDue(ctx context.Context) {
	now := s.cfg.Now()
	for _, e := range s.due.takeDue(now) {
		if err := s.fire(ctx, e, now); err != nil {
			slog.Warn("timers: firing failed; retried at the next tick", "table", s.cfg.Table, "key", e.key, "err", err)
			s.due.set(e.key, e.deadline, true)
			return
		}
	}
}

func (s *Scheduler) fire(ctx context.Context, e entry, now time.Time) error {
	ms := e.deadline.UnixMilli()
	ev := schemas.TimerFired{Key: e.key, Deadline: time.UnixMilli(ms).UTC(),
		Meta: streams.Meta("TimerFired", schemas.Metadata{EventID: "timer/" + string(s.cfg.Table) + "/" + e.key + "/" + strconv.FormatInt(ms, 10),
			CorrelationID: e.key}, "", now, "")}
	payload, err := s.cfg.Serde.Encode(ev)
	if err != nil {
		return err
	}
	hdr := goka.Headers{streams.HeaderEventID: []byte(ev.Meta.EventID), streams.HeaderEventType: []byte(ev.Meta.EventType)}
	return s.emitter.EmitSyncWithHeaders(e.key, payload, hdr)
}

// schedule is the pending deadline of each key, with a min-heap to find the due ones. A key's
// heap entries that no longer match its deadline are dropped when they surface.
type schedule struct {
	mu       sync.Mutex
	deadline map[string]time.Time
	heap     entryHeap
}

type entry struct {
	key      string
	deadline time.Time
}

func newSchedule() *schedule { return &schedule{deadline: map[string]time.Time{}} }

// set records key's deadline (pending) or that it has none.
func (s *schedule) set(key string, deadline time.Time, pending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !pending {
		delete(s.deadline, key)
		return
	}
	if d, ok := s.deadline[key]; ok && d.Equal(deadline) {
		return
	}
	s.deadline[key] = deadline
	heap.Push(&s.heap, entry{key, deadline})
}

// takeDue removes and returns the deadlines at or before now, earliest first.
func (s *schedule) takeDue(now time.Time) []entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []entry
	for s.heap.Len() > 0 && !s.heap[0].deadline.After(now) {
		e := heap.Pop(&s.heap).(entry)
		if d, ok := s.deadline[e.key]; ok && d.Equal(e.deadline) {
			delete(s.deadline, e.key)
			out = append(out, e)
		}
	}
	// stale entries of moved or cancelled deadlines must not pile up behind a far one
	if s.heap.Len() > 2*len(s.deadline)+1024 {
		s.heap = s.heap[:0]
		for k, d := range s.deadline {
			s.heap = append(s.heap, entry{k, d})
		}
		heap.Init(&s.heap)
	}
	return out
}

func (s *schedule) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.deadline)
}

type entryHeap []entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
