package streams

import (
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// A processor reads several co-partitioned input topics, and goka hands each topic-partition to
// the partition's processor from a goroutine of its own: the inputs of one key from different
// topics are processed in whatever order their fetches happen to arrive. Usually that order
// follows the records' timestamps; after a crash it need not: the instance that takes the
// partition over is delivered the uncommitted inputs again, all at once, and could process a
// later input of one topic before an earlier input of another. A decision that emits from the
// order it sees inputs in (order-status's changes) could then emit a change the crashed instance
// had not, from a state missing one the crashed instance had already emitted (the chaos run saw
// two changes out of PAYMENT_AUTHORIZED).
//
// merger hands a partition's inputs to goka as one stream, merged by record timestamp as Kafka
// Streams does: of the inputs at hand it releases the oldest, and it holds back while an input
// with nothing at hand is known to have more records than it received (its fetch is on its way),
// for at most maxIdle. So the same records are processed in the same order on every replay,
// whatever the fetches' timing. Each input keeps its own order.
type merger struct {
	inputs  []*mergeInput
	out     chan *sarama.ConsumerMessage
	notify  chan struct{} // a record arrived on some input
	maxIdle time.Duration
	release func(*sarama.ConsumerMessage) // called for each record before it is handed over
}

type mergeInput struct {
	claim    sarama.ConsumerGroupClaim
	records  chan *sarama.ConsumerMessage
	head     *sarama.ConsumerMessage // the next record of this input, taken off records
	received int64                   // offset after the last record received; -1: none yet
	closed   bool
	gaveUp   int64 // the high-water mark at which waiting for this input timed out
}

// mergeMaxIdle is how long a merger waits for an input it knows has records on their way.
const mergeMaxIdle = 500 * time.Millisecond

func newMerger(claims []sarama.ConsumerGroupClaim, release func(*sarama.ConsumerMessage)) *merger {
	m := &merger{out: make(chan *sarama.ConsumerMessage, 64), notify: make(chan struct{}, 1), maxIdle: mergeMaxIdle, release: release}
	for _, c := range claims {
		m.inputs = append(m.inputs, &mergeInput{claim: c, records: make(chan *sarama.ConsumerMessage, 64), received: -1, gaveUp: -1})
	}
	return m
}

// run merges until every input's records end or stop closes; it closes m.out.
func (m *merger) run(stop <-chan struct{}) {
	var forwarders sync.WaitGroup
	for _, in := range m.inputs {
		forwarders.Go(func() {
			defer close(in.records)
			for msg := range in.claim.Messages() {
				select {
				case in.records <- msg:
				case <-stop:
					return
				}
				select {
				case m.notify <- struct{}{}:
				default:
				}
			}
		})
	}
	defer forwarders.Wait()
	defer close(m.out)
	var idle *time.Timer
	var waitingSince time.Time
	for {
		m.fillHeads()
		next, wait := m.pick(time.Now(), waitingSince)
		if next == nil && !wait && m.allClosed() {
			return
		}
		if next != nil {
			waitingSince = time.Time{}
			m.release(next.head)
			select {
			case m.out <- next.head:
				next.head = nil
			case <-stop:
				return
			}
			continue
		}
		var timeout <-chan time.Time
		if wait {
			if waitingSince.IsZero() {
				waitingSince = time.Now()
			}
			if idle == nil {
				idle = time.NewTimer(m.maxIdle)
			} else {
				idle.Reset(time.Until(waitingSince.Add(m.maxIdle)))
			}
			timeout = idle.C
		}
		select {
		case <-m.notify:
		case <-timeout:
		case <-stop:
			return
		}
	}
}

// fillHeads takes the next record of every input that has one at hand.
func (m *merger) fillHeads() {
	for _, in := range m.inputs {
		if in.head != nil || in.closed {
			continue
		}
		select {
		case msg, ok := <-in.records:
			if !ok {
				in.closed = true
				continue
			}
			in.head, in.received = msg, msg.Offset+1
		default:
		}
	}
}

// pick returns the input whose head goes next (the oldest timestamp; the first input on a tie),
// or reports that the merger should wait for an input known to be behind.
func (m *merger) pick(now, waitingSince time.Time) (next *mergeInput, wait bool) {
	for _, in := range m.inputs {
		if in.head == nil {
			switch {
			case !in.behind():
			case waitingSince.IsZero() || now.Sub(waitingSince) < m.maxIdle:
				wait = true
			default: // waited long enough: not again until its mark moves
				in.gaveUp = in.claim.HighWaterMarkOffset()
			}
			continue
		}
		if next == nil || in.head.Timestamp.Before(next.head.Timestamp) {
			next = in
		}
	}
	if wait {
		return nil, true
	}
	return next, false
}

// behind reports an input with nothing at hand that has records on their way: its partition's
// high-water mark is past what it received (or it received nothing yet and the mark is not
// known). An input whose wait timed out at the current mark is not waited for again until the
// mark moves.
func (in *mergeInput) behind() bool {
	if in.closed || in.head != nil {
		return false
	}
	hwm := in.claim.HighWaterMarkOffset()
	if hwm == in.gaveUp {
		return false
	}
	if in.received < 0 {
		return hwm == 0 || hwm > in.claim.InitialOffset()
	}
	return hwm > in.received
}

func (m *merger) allClosed() bool {
	for _, in := range m.inputs {
		if !in.closed || in.head != nil {
			return false
		}
	}
	return true
}
