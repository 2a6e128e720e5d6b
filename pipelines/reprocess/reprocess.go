// Package reprocess rebuilds a processor's table from the earliest offsets under a new consumer
// group — a new table version — and compares it with another version.
//
// Consumes: the processor's input topics from the beginning (a new group has no offsets; the
// project's sarama config starts new groups at the oldest offset). Keeps: the new version's group
// table <prefix>.<processor>.<version>-table (created up front, compacted, co-partitioned).
// Emits: what the processor emits, to the version's own topics (see topology.StatusChanges).
//
// Views and the API read a table version with `orderflow run --table-version <version>`: start
// instances on the new version, move traffic, stop the old ones (blue/green, no downtime).
package reprocess

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/schollz/progressbar/v3"

	"github.com/orderflow/orderflow/pipelines/config"
	"github.com/orderflow/orderflow/pipelines/kafka"
	"github.com/orderflow/orderflow/pipelines/lag"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/pipelines/streams"
	"github.com/orderflow/orderflow/pipelines/topology"
	"github.com/orderflow/orderflow/processors/orderstatus"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Stats of a rebuild.
type Stats struct {
	Group     string
	Table     string
	Events    int64 // input messages processed
	Elapsed   time.Duration
	PerSecond float64
}

// Run rebuilds processor's table as version and returns once the new group has caught up with
// the end offsets its inputs had when Run started (later messages are processed too while it
// runs). progress, when not nil, receives a progress bar with rate and remaining lag.
func Run(ctx context.Context, ep config.Config, live topology.Topology, processor, version, stateDir string, progress io.Writer) (Stats, error) {
	if version == "" || version == live.GroupSuffix {
		return Stats{}, fmt.Errorf("reprocess: the new version must differ from the live one (%q)", live.GroupSuffix)
	}
	t := live
	t.GroupSuffix = version
	if err := t.Apply(ep.Brokers); err != nil { // the version's table and change topics
		return Stats{}, err
	}
	group := string(t.Group(processor))
	inputs := map[string][]string{group: runner.Inputs(t)[group]}
	if len(inputs[group]) == 0 {
		return Stats{}, fmt.Errorf("reprocess: unknown processor %q", processor)
	}
	meter, err := lag.NewMeter(ep.Brokers)
	if err != nil {
		return Stats{}, err
	}
	defer meter.Close()
	before, err := meter.Measure(ctx, inputs)
	if err != nil {
		return Stats{}, err
	}
	total := lag.Total(before)
	if processor == topology.GroupOrderStatus {
		return rebuildOrderStatus(ctx, ep, t, inputs[group], total, stateDir, progress)
	}

	app, err := runner.New(ctx, runner.Config{Endpoints: ep, Topology: t, StateDir: stateDir, Processors: []string{processor}})
	if err != nil {
		return Stats{}, err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- app.Run(runCtx) }()

	var bar *progressbar.ProgressBar
	if progress != nil {
		bar = newBar(total, progress, group)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var remaining int64 = total
	for remaining > 0 {
		select {
		case err := <-done:
			stop()
			return Stats{}, fmt.Errorf("reprocess: processor stopped: %w", err)
		case <-ctx.Done():
			stop()
			<-done
			return Stats{}, ctx.Err()
		case <-tick.C:
		}
		ps, err := meter.Measure(ctx, inputs)
		if err != nil {
			continue
		}
		// remaining: what is left of the backlog that existed at the start
		remaining = 0
		for _, p := range ps {
			for _, b := range before {
				if b.Topic == p.Topic && b.Partition == p.Partition {
					committed := max(p.Committed, b.End-b.Lag)
					remaining += max(0, b.End-committed)
				}
			}
		}
		if bar != nil {
			_ = bar.Set64(total - remaining)
		}
	}
	elapsed := time.Since(start)
	stop()
	if err := <-done; err != nil {
		return Stats{}, err
	}
	if bar != nil {
		_ = bar.Finish()
	}
	return Stats{Group: group, Table: string(t.Table(processor)), Events: total, Elapsed: elapsed,
		PerSecond: float64(total) / elapsed.Seconds()}, nil
}

// rebuildOrderStatus rebuilds the order-status table in bulk (streams.Rebuild: a record cache
// merges the updates of a key, as Kafka Streams' does) and commits the version's group offsets
// at the ends its inputs had; the version's goka processor, started afterwards (`orderflow run
// --table-version`), restores the table and goes on from there. Its emits go to the version's
// own status-change topic.
func rebuildOrderStatus(ctx context.Context, ep config.Config, t topology.Topology, inputs []string, total int64, stateDir string, progress io.Writer) (Stats, error) {
	serde, err := codec.New(codec.NewSRClient(ep.RegistryURL))
	if err != nil {
		return Stats{}, err
	}
	group := string(t.Group(topology.GroupOrderStatus))
	var processed atomic.Int64
	var bar *progressbar.ProgressBar
	if progress != nil {
		bar = newBar(total, progress, group)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					_ = bar.Set64(min(total, processed.Load()))
				}
			}
		}()
	}
	start := time.Now()
	n, err := streams.Rebuild(ctx, streams.RebuildConfig[schemas.OrderStatus]{
		Brokers: ep.Brokers, Group: group, Inputs: inputs, Table: string(t.Table(topology.GroupOrderStatus)),
		Codec: orderstatus.TableCodec(serde), Serde: serde, Decide: orderstatus.Decide(t), StateDir: stateDir, Processed: &processed,
	})
	if err != nil {
		return Stats{}, fmt.Errorf("reprocess: %w", err)
	}
	elapsed := time.Since(start)
	if bar != nil {
		_ = bar.Finish()
	}
	return Stats{Group: group, Table: string(t.Table(topology.GroupOrderStatus)), Events: n, Elapsed: elapsed,
		PerSecond: float64(n) / elapsed.Seconds()}, nil
}

func newBar(total int64, w io.Writer, group string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total, progressbar.OptionSetWriter(w), progressbar.OptionShowCount(),
		progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"), progressbar.OptionSetDescription("reprocess "+group),
		progressbar.OptionThrottle(250*time.Millisecond), progressbar.OptionSetPredictTime(true))
}

// Diff is the result of comparing two table versions.
type Diff struct {
	Keys        int      // keys in either table
	Differing   []string // keys whose values differ
	OnlyInLeft  []string
	OnlyInRight []string
}

// Equal reports whether the tables hold the same keys with the same values.
func (d Diff) Equal() bool {
	return len(d.Differing) == 0 && len(d.OnlyInLeft) == 0 && len(d.OnlyInRight) == 0
}

// CompareTables reads two group tables of order-status (latest value per key) and compares them.
func CompareTables(ctx context.Context, brokers []string, serde *codec.Serde, left, right string) (Diff, error) {
	a, err := readTable(ctx, brokers, left)
	if err != nil {
		return Diff{}, err
	}
	b, err := readTable(ctx, brokers, right)
	if err != nil {
		return Diff{}, err
	}
	var d Diff
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			d.OnlyInLeft = append(d.OnlyInLeft, k)
			continue
		}
		da, errA := serde.Decode(va)
		db, errB := serde.Decode(vb)
		if errA != nil || errB != nil || !reflect.DeepEqual(da, db) {
			d.Differing = append(d.Differing, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d.OnlyInRight = append(d.OnlyInRight, k)
		}
	}
	d.Keys = len(a) + len(d.OnlyInRight)
	slices.Sort(d.Differing)
	slices.Sort(d.OnlyInLeft)
	slices.Sort(d.OnlyInRight)
	return d, nil
}

// readTable returns the latest value of every key of a table topic (tombstones remove keys).
func readTable(ctx context.Context, brokers []string, topic string) (map[string][]byte, error) {
	client, err := sarama.NewClient(brokers, kafka.NewSaramaConfig("orderflow-compare"))
	if err != nil {
		return nil, err
	}
	defer client.Close()
	out := map[string][]byte{}
	err = kafka.ReadTopic(ctx, client, topic, func(m *sarama.ConsumerMessage) {
		if m.Value == nil {
			delete(out, string(m.Key))
		} else {
			out[string(m.Key)] = m.Value
		}
	})
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	return out, nil
}
