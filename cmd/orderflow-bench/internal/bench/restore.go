package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/orderstatus"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Restored is one restore of the order-status table into an empty instance.
type Restored struct {
	Measure
	Keys       int                    `json:"keys"`
	Statuses   map[schemas.Status]int `json:"statuses"`
	PeakRSSMiB float64                `json:"peak_rss_mib"`
	BaseRSSMiB float64                `json:"base_rss_mib"`
}

// statusView is a running goka view of an order-status table.
type statusView struct {
	*goka.View
	done    chan error
	stop    context.CancelFunc
	closing sync.Once
	err     error // what the view stopped with
}

// startStatusView starts a goka view of an order-status table (what an API instance reads)
// with its local copy in stateDir; it does not wait for the recovery.
func startStatusView(ctx context.Context, brokers []string, serde *codec.Serde, table goka.Table, name, stateDir string) (*statusView, error) {
	view, err := goka.NewView(brokers, table, orderstatus.TableCodec(serde), streams.ViewOptions(brokers, name, stateDir)...)
	if err != nil {
		return nil, fmt.Errorf("view of %s: %w", table, err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	v := &statusView{View: view, done: make(chan error, 1), stop: cancel}
	go func() { v.done <- view.Run(runCtx) }()
	return v, nil
}

// waitRecovered waits until the view has recovered its table, it stops, or ctx ends.
func (v *statusView) waitRecovered(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !v.Recovered() {
		select {
		case err := <-v.done:
			v.done <- err // so that close still sees it
			return fmt.Errorf("view stopped before it recovered: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// close stops the view and returns the error it stopped with (nil for a clean stop); calling
// it again returns the same.
func (v *statusView) close() error {
	v.closing.Do(func() {
		v.stop()
		if err := <-v.done; err != nil && !errors.Is(err, context.Canceled) {
			v.err = err
		}
	})
	return v.err
}

// restoreView starts a view of table with an empty state directory (an instance that has never
// run), times it until it is recovered, then counts its keys and statuses. messages is the
// number of records in the table's changelog (for the rate).
func restoreView(ctx context.Context, brokers []string, serde *codec.Serde, table goka.Table, stateDir string, messages int64) (Restored, error) {
	base := resetPeakRSS()
	start := time.Now()
	view, err := startStatusView(ctx, brokers, serde, table, "bench-restore", stateDir)
	if err != nil {
		return Restored{}, fmt.Errorf("restore: %w", err)
	}
	defer view.close()
	if err := view.waitRecovered(ctx); err != nil {
		return Restored{}, fmt.Errorf("restore: %w", err)
	}
	r := Restored{Measure: measure(messages, time.Since(start)), Statuses: map[schemas.Status]int{}}
	r.PeakRSSMiB, r.BaseRSSMiB = float64(peakRSS())/(1<<20), float64(base)/(1<<20)
	it, err := view.Iterator()
	if err != nil {
		return Restored{}, err
	}
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			it.Release()
			return Restored{}, fmt.Errorf("restore: read %s: %w", it.Key(), err)
		}
		r.Keys++
		r.Statuses[v.(schemas.OrderStatus).Status]++
	}
	it.Release()
	if err := view.close(); err != nil {
		return Restored{}, err
	}
	return r, nil
}

// rawRead is the restore baseline: one sarama consumer reading every partition of the changelog
// to its end in parallel (as a view does), counting records and distinct keys.
func rawRead(ctx context.Context, brokers []string, topic string) (Measure, int, error) {
	client, err := sarama.NewClient(brokers, kafka.NewSaramaConfig("orderflow-bench-raw"))
	if err != nil {
		return Measure{}, 0, err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return Measure{}, 0, err
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return Measure{}, 0, fmt.Errorf("raw read %s: %w", topic, err)
	}
	var mu sync.Mutex
	keys := map[string]struct{}{}
	var n int64
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		g.Go(func() error {
			oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
			if err != nil {
				return err
			}
			end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return err
			}
			return kafka.ReadPartition(gctx, consumer, topic, p, oldest, end, func(m *sarama.ConsumerMessage) {
				mu.Lock()
				n++
				keys[string(m.Key)] = struct{}{}
				mu.Unlock()
			})
		})
	}
	if err := g.Wait(); err != nil {
		return Measure{}, 0, fmt.Errorf("raw read %s: %w", topic, err)
	}
	return measure(n, time.Since(start)), len(keys), nil
}

// resetPeakRSS resets the kernel's peak-RSS mark of this process (Linux: clear_refs 5) and
// returns the current RSS in bytes.
func resetPeakRSS() int64 {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return statusKB("VmRSS") << 10
}

// peakRSS returns this process's peak RSS since the last reset, in bytes.
func peakRSS() int64 { return statusKB("VmHWM") << 10 }

func statusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
