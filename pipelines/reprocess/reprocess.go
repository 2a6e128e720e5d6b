// Package reprocess rebuilds a processor's table from the earliest offsets into a new table
// version, compares versions, switches the serving one and drops old ones (blue/green).
//
// Consumes: the processor's live input topics from the beginning, in bulk (streams.Rebuild).
// Keeps: the version's group table <prefix>.<processor>.<version>-table and its group's offsets
// at the ends the inputs had, so the version's goka processor goes on from there. Emits: what the
// processor emits and dead-letters, to topics private to the version
// (<topic>.<processor>.<version>, see topology.Topology.Out): a rebuild never writes to a live
// topic or table. The serving version of each processor is recorded in <prefix>.table-versions;
// `orderflow run` reads it at start (Switch).
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
	"github.com/lovoo/goka"
	"github.com/schollz/progressbar/v3"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
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
// runs). The rebuild is a shadow (topology.Topology.Shadow): it reads the live inputs and writes
// its emits and dead letters to topics private to the version, so live topics and tables are
// never touched. live carries the serving versions (see topology.LoadVersions). progress, when
// not nil, receives a progress bar with rate and remaining lag.
func Run(ctx context.Context, ep endpoints.Endpoints, live topology.Topology, processor, version, stateDir string, progress io.Writer) (Stats, error) {
	if !slices.Contains(topology.Processors(), processor) {
		return Stats{}, fmt.Errorf("reprocess: unknown processor %q (known: %v)", processor, topology.Processors())
	}
	if err := topology.ValidateVersion(version); err != nil {
		return Stats{}, err
	}
	if version == "" || version == live.Version(processor) {
		return Stats{}, fmt.Errorf("reprocess: the new version must differ from the serving one (%q)", live.Version(processor))
	}
	t := Shadow(live, processor, version)
	if err := createVersionTopics(ep.Brokers, t, processor); err != nil {
		return Stats{}, err
	}
	group := string(t.Group(processor))
	inputs := catalog.Inputs(t)[group]
	slices.SortStableFunc(inputs, func(x, y string) int { return causalRank(t, x) - causalRank(t, y) })
	meter, err := lag.NewMeter(ep.Brokers)
	if err != nil {
		return Stats{}, err
	}
	defer meter.Close()
	before, err := meter.Measure(ctx, map[string][]string{group: inputs})
	if err != nil {
		return Stats{}, err
	}
	total := lag.Total(before)
	serde, err := codec.New(codec.NewSRClient(ep.RegistryURL, codec.WithBasicAuth(ep.RegistryCredentials())))
	if err != nil {
		return Stats{}, err
	}
	var processed atomic.Int64
	if progress != nil {
		bar := newBar(total, progress, group)
		stop := make(chan struct{})
		defer func() { close(stop); _ = bar.Finish() }()
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
	n, err := catalog.Rebuild(ctx, t, processor, streams.RebuildConfig[struct{}]{Brokers: ep.Brokers, Group: group, Inputs: inputs,
		Table: string(t.Table(processor)), Serde: serde, StateDir: stateDir, Processed: &processed})
	if err != nil {
		return Stats{}, fmt.Errorf("reprocess: %w", err)
	}
	elapsed := time.Since(start)
	return Stats{Group: group, Table: string(t.Table(processor)), Events: n, Elapsed: elapsed,
		PerSecond: float64(n) / elapsed.Seconds()}, nil
}

// causalRank orders input topics as causes come before effects (ties of a timestamp merge):
// orders and stock adjustments, then commands and payment outcomes, replies, reservation
// outcomes, shipments.
func causalRank(t topology.Topology, topic string) int {
	switch goka.Stream(topic) {
	case t.OrderEvents(), t.StockEvents():
		return 0
	case t.SkuCommands(), t.PaymentEvents():
		return 1
	case t.SkuReplies():
		return 2
	case t.InventoryEvents():
		return 3
	}
	return 4
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
	// Example shows the decoded values of the first differing key (left, right), for reports.
	Example [2]any
}

// Equal reports whether the tables hold the same keys with the same values.
func (d Diff) Equal() bool {
	return len(d.Differing) == 0 && len(d.OnlyInLeft) == 0 && len(d.OnlyInRight) == 0
}

// CompareTables reads two group tables of a processor (latest value per key), decodes their
// values with the processor's table codec and compares them.
func CompareTables(ctx context.Context, brokers []string, table goka.Codec, left, right string) (Diff, error) {
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
		da, errA := table.Decode(va)
		db, errB := table.Decode(vb)
		if errA != nil || errB != nil || !reflect.DeepEqual(da, db) {
			if len(d.Differing) == 0 {
				d.Example = [2]any{da, db}
			}
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
