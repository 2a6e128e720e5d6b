package streams

import (
	"context"
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// failingGroup's Consume returns the errors in errs, one per call, then nil.
type failingGroup struct {
	sarama.ConsumerGroup
	errs  []error
	calls int
}

func (g *failingGroup) Consume(context.Context, []string, sarama.ConsumerGroupHandler) error {
	g.calls++
	if len(g.errs) == 0 {
		return nil
	}
	err := g.errs[0]
	g.errs = g.errs[1:]
	return err
}

func TestConsumerGroupRidesOutAnUnreachableCoordinator(t *testing.T) {
	refused := syscall.ECONNREFUSED
	refreshes := 0
	fg := &failingGroup{errs: []error{refused, refused, refused}}
	g := &resilientGroup{ConsumerGroup: fg, group: "g", budget: time.Minute, refresh: func() error { refreshes++; return nil }}
	if err := g.Consume(context.Background(), nil, nil); err != nil {
		t.Fatalf("Consume = %v, want nil once the coordinator answers", err)
	}
	if fg.calls != 4 || refreshes != 3 {
		t.Errorf("%d joins and %d coordinator lookups, want 4 and 3", fg.calls, refreshes)
	}

	closed := &failingGroup{errs: []error{sarama.ErrClosedConsumerGroup}}
	g = &resilientGroup{ConsumerGroup: closed, group: "g", budget: time.Minute, refresh: func() error { return nil }}
	if err := g.Consume(context.Background(), nil, nil); !errors.Is(err, sarama.ErrClosedConsumerGroup) || closed.calls != 1 {
		t.Errorf("a closed group: %v after %d calls, want ErrClosedConsumerGroup at once", err, closed.calls)
	}

	forever := &failingGroup{errs: []error{refused, refused, refused, refused, refused, refused}}
	g = &resilientGroup{ConsumerGroup: forever, group: "g", budget: 600 * time.Millisecond, refresh: func() error { return nil }}
	start := time.Now()
	if err := g.Consume(context.Background(), nil, nil); !errors.Is(err, refused) {
		t.Errorf("past the budget: %v, want the join's error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %s, want about the budget (600ms)", d)
	}
}

// A cancelled ctx is no error, whatever the join said.
func TestConsumerGroupStopsQuietly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fg := &failingGroup{errs: []error{syscall.ECONNREFUSED}}
	g := &resilientGroup{ConsumerGroup: fg, group: "g", budget: time.Minute, refresh: func() error { return nil }}
	if err := g.Consume(ctx, nil, nil); err != nil || fg.calls != 1 {
		t.Errorf("cancelled: %v after %d calls, want nil at once", err, fg.calls)
	}
}

// recordingSession records the offsets committed (marked) per partition.
type recordingSession struct {
	sarama.ConsumerGroupSession
	marked map[int32][]int64
}

func (s *recordingSession) MarkOffset(_ string, partition int32, offset int64, _ string) {
	s.marked[partition] = append(s.marked[partition], offset)
}

// An input's offset is committed only once every earlier input of its partition is done, in
// whatever order goka reports them done (the acknowledgements of different brokers come back in
// any order): a later input done first commits nothing past an earlier one still in flight.
func TestCommitsWaitForEveryEarlierInput(t *testing.T) {
	inner := &recordingSession{marked: map[int32][]int64{}}
	s := newOrderedSession(inner)
	s.register("in", 3)
	for _, off := range []int64{10, 11, 15, 16} { // offsets need not be contiguous
		s.delivered("in", 3, off)
	}
	done := func(off int64) { s.MarkOffset("in", 3, off+1, "") }

	done(15) // its emits acknowledged first
	done(16)
	if got := inner.marked[3]; len(got) != 0 {
		t.Fatalf("committed %v while input 10 is still in flight, want nothing", got)
	}
	done(10)
	if got := inner.marked[3]; !slices.Equal(got, []int64{11}) {
		t.Fatalf("after 10 is done: committed %v, want [11] (11 is still in flight)", got)
	}
	done(11)
	if got := inner.marked[3]; !slices.Equal(got, []int64{11, 17}) {
		t.Fatalf("after 11 is done: committed %v, want [11 17]", got)
	}
	s.MarkOffset("other", 0, 5, "") // a partition not registered: passed on
	if got := inner.marked[0]; !slices.Equal(got, []int64{5}) {
		t.Errorf("untracked partition: committed %v, want [5]", got)
	}
}
