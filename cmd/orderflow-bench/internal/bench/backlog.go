package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/reprocess"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
	"github.com/orderflow/orderflow/schemas/gate"
)

// BacklogConfig configures the backlog benchmarks (reprocess rate and table restore).
type BacklogConfig struct {
	Endpoints endpoints.Endpoints
	Orders    int // synthetic orders in the backlog (≈4 input events each)
	Runs      int // measured runs of each metric (after one warm-up read)
	// RestoreKeys is the size of the synthetic order-status table restored into an empty view
	// (metric 4; 0: skip).
	RestoreKeys int
	StateDir    string // where processors and views keep their local tables (default: a temp dir)
	Log         io.Writer
}

// BacklogResult holds every run of the backlog benchmarks.
type BacklogResult struct {
	Orders       int              `json:"orders"`
	Events       int64            `json:"events"`
	PerTopic     map[string]int64 `json:"events_per_topic"`
	WriteSeconds float64          `json:"write_seconds"`
	// metric 1: reprocess rate of the order-status join and its baselines
	Reprocess   []Measure `json:"reprocess"`
	PassThrough []Measure `json:"pass_through"`
	NoOp        []Measure `json:"no_op"`
	// restore of each rebuilt table into an empty instance, and its baseline
	Restore []Restored `json:"restore"`
	RawRead []Measure  `json:"raw_read"`
	// metric 4: restore of a synthetic table of RestoreKeys keys, and its baseline
	RestoreKeys  int        `json:"restore_keys"`
	LargeRestore []Restored `json:"large_restore"`
	LargeRawRead []Measure  `json:"large_raw_read"`
}

// Deployment is a private set of topics for a benchmark.
type Deployment struct {
	Topology topology.Topology
	Serde    *codec.Serde
	brokers  []string
}

// Deploy creates a private topology (prefix bench-<time>) and registers the schemas.
func Deploy(ctx context.Context, ep endpoints.Endpoints) (*Deployment, error) {
	t, err := topology.New(fmt.Sprintf("bench-%d", time.Now().Unix()))
	if err != nil {
		return nil, err
	}
	if err := t.Apply(ep.Brokers); err != nil {
		return nil, err
	}
	all, err := schemas.All()
	if err != nil {
		return nil, err
	}
	if _, err := gate.New(ep.RegistryURL, gate.WithBasicAuth(ep.RegistryCredentials())).Apply(ctx, all); err != nil {
		return nil, fmt.Errorf("bench: schemas: %w", err)
	}
	serde, err := codec.New(codec.NewSRClient(ep.RegistryURL, codec.WithBasicAuth(ep.RegistryCredentials())))
	if err != nil {
		return nil, err
	}
	return &Deployment{Topology: t, Serde: serde, brokers: ep.Brokers}, nil
}

// ensure creates extra topics under the deployment's prefix.
func (d *Deployment) ensure(topics ...kafka.Topic) error {
	admin, err := kafka.NewAdmin(d.brokers)
	if err != nil {
		return err
	}
	defer admin.Close()
	return kafka.EnsureTopics(admin, topics)
}

// Remove deletes every topic of the deployment (any table version included).
func (d *Deployment) Remove() error {
	admin, err := kafka.NewAdmin(d.brokers)
	if err != nil {
		return err
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return err
	}
	for name := range topics {
		if strings.HasPrefix(name, d.Topology.Prefix+".") {
			if err := admin.DeleteTopic(name); err != nil {
				slog.Warn("bench: delete topic", "topic", name, "err", err)
			}
		}
	}
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		return err
	}
	for name := range groups {
		if strings.HasPrefix(name, d.Topology.Prefix+".") {
			_ = admin.DeleteConsumerGroup(name)
		}
	}
	return nil
}

// Backlog writes a synthetic history of cfg.Orders orders and measures, cfg.Runs times each:
// the order-status processor rebuilding its table from it under a new group (reprocess), the
// two consumer baselines on the same topics, and the restore of the rebuilt table into an
// empty view against a raw read of its changelog. It fails when any pass loses or duplicates
// an event, or when a restored table does not hold every order with its outcome.
func Backlog(ctx context.Context, cfg BacklogConfig) (BacklogResult, error) {
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, time.Now().Format("15:04:05 ")+format+"\n", args...)
		}
	}
	if cfg.Runs <= 0 {
		cfg.Runs = 3
	}
	if cfg.StateDir == "" {
		dir, err := os.MkdirTemp("", "orderflow-bench-")
		if err != nil {
			return BacklogResult{}, err
		}
		defer os.RemoveAll(dir)
		cfg.StateDir = dir
	}
	d, err := Deploy(ctx, cfg.Endpoints)
	if err != nil {
		return BacklogResult{}, err
	}
	defer d.Remove()
	brokers := cfg.Endpoints.Brokers
	t := d.Topology

	logf("writing the history of %d orders to %s.* …", cfg.Orders, t.Prefix)
	h, err := WriteHistory(ctx, brokers, d.Serde, t, cfg.Orders)
	if err != nil {
		return BacklogResult{}, err
	}
	res := BacklogResult{Orders: h.Orders, Events: h.Events, PerTopic: h.PerTopic, WriteSeconds: h.Elapsed.Seconds()}
	logf("wrote %d events in %.1fs", h.Events, h.Elapsed.Seconds())
	inputs := catalog.Inputs(t)[string(t.Group(topology.GroupOrderStatus))]
	var want int64
	for _, tp := range inputs {
		want += h.PerTopic[tp]
	}
	if want != h.Events {
		return res, fmt.Errorf("bench: order-status reads %v, which hold %d of the %d events written", inputs, want, h.Events)
	}
	sink := t.Prefix + ".bench.passthrough"
	if err := d.ensure(kafka.Topic{Name: sink, Partitions: t.Partitions}); err != nil {
		return res, err
	}

	if _, err := noOp(ctx, brokers, t.Prefix+".bench.warmup", inputs, want); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	for run := 1; run <= cfg.Runs; run++ {
		m, err := noOp(ctx, brokers, fmt.Sprintf("%s.bench.noop.%d", t.Prefix, run), inputs, want)
		if err != nil {
			return res, err
		}
		res.NoOp = append(res.NoOp, m)
		logf("run %d: no-op consumer     %8.0f events/s (%.1fs)", run, m.PerSecond, m.Seconds)

		m, err = passThrough(ctx, brokers, d.Serde, fmt.Sprintf("%s.bench.pass.%d", t.Prefix, run), sink, inputs, want)
		if err != nil {
			return res, err
		}
		res.PassThrough = append(res.PassThrough, m)
		logf("run %d: pass-through       %8.0f events/s (%.1fs)", run, m.PerSecond, m.Seconds)

		version := fmt.Sprintf("r%d", run)
		st, err := reprocess.Run(ctx, cfg.Endpoints, t, topology.GroupOrderStatus, version, filepath.Join(cfg.StateDir, version), nil)
		if err != nil {
			return res, err
		}
		if st.Events != want {
			return res, fmt.Errorf("reprocess %s: backlog of %d events, %d written", version, st.Events, want)
		}
		m = measure(st.Events, st.Elapsed)
		res.Reprocess = append(res.Reprocess, m)
		logf("run %d: order-status join  %8.0f events/s (%.1fs)", run, m.PerSecond, m.Seconds)

		table := t.WithVersion(topology.GroupOrderStatus, version).Table(topology.GroupOrderStatus)
		raw, keys, err := rawRead(ctx, brokers, string(table))
		if err != nil {
			return res, err
		}
		if keys != cfg.Orders {
			return res, fmt.Errorf("table %s holds %d keys, want %d orders", table, keys, cfg.Orders)
		}
		res.RawRead = append(res.RawRead, raw)
		logf("run %d: raw changelog read %8.0f records/s (%.1fs, %d records)", run, raw.PerSecond, raw.Seconds, raw.Events)

		r, err := restoreView(ctx, brokers, d.Serde, table, filepath.Join(cfg.StateDir, version+"-restore"), raw.Events)
		if err != nil {
			return res, err
		}
		if r.Keys != cfg.Orders || !maps.Equal(r.Statuses, h.Outcomes) {
			return res, fmt.Errorf("restored table: %d keys %v, want %d orders %v", r.Keys, r.Statuses, cfg.Orders, h.Outcomes)
		}
		res.Restore = append(res.Restore, r)
		logf("run %d: view restore       %8.0f records/s (%.1fs to ready, peak RSS %.0f MiB)", run, r.PerSecond, r.Seconds, r.PeakRSSMiB)
	}
	if cfg.RestoreKeys > 0 {
		if err := largeRestore(ctx, cfg, d, &res, logf); err != nil {
			return res, err
		}
	}
	return res, nil
}

// largeRestore writes a synthetic order-status table of cfg.RestoreKeys keys and restores it
// into an empty view cfg.Runs times, against a raw read of the same topic.
func largeRestore(ctx context.Context, cfg BacklogConfig, d *Deployment, res *BacklogResult, logf func(string, ...any)) error {
	brokers := cfg.Endpoints.Brokers
	topic := d.Topology.Prefix + ".restore-table"
	if err := d.ensure(kafka.Topic{Name: topic, Partitions: d.Topology.Partitions, Compacted: true}); err != nil {
		return err
	}
	logf("writing an order-status table of %d keys to %s …", cfg.RestoreKeys, topic)
	start := time.Now()
	want, err := WriteTable(ctx, brokers, d.Serde, d.Topology, topic, cfg.RestoreKeys)
	if err != nil {
		return err
	}
	logf("wrote %d keys in %.1fs", cfg.RestoreKeys, time.Since(start).Seconds())
	res.RestoreKeys = cfg.RestoreKeys
	if _, _, err := rawRead(ctx, brokers, topic); err != nil { // warm-up
		return err
	}
	for run := 1; run <= cfg.Runs; run++ {
		raw, keys, err := rawRead(ctx, brokers, topic)
		if err != nil {
			return err
		}
		if keys != cfg.RestoreKeys {
			return fmt.Errorf("table %s holds %d keys, want %d", topic, keys, cfg.RestoreKeys)
		}
		res.LargeRawRead = append(res.LargeRawRead, raw)
		logf("run %d: raw read of %d keys %8.0f records/s (%.1fs)", run, keys, raw.PerSecond, raw.Seconds)
		r, err := restoreView(ctx, brokers, d.Serde, goka.Table(topic), filepath.Join(cfg.StateDir, fmt.Sprintf("large-%d", run)), raw.Events)
		if err != nil {
			return err
		}
		if r.Keys != cfg.RestoreKeys || !maps.Equal(r.Statuses, want) {
			return fmt.Errorf("restored table: %d keys %v, want %d %v", r.Keys, r.Statuses, cfg.RestoreKeys, want)
		}
		res.LargeRestore = append(res.LargeRestore, r)
		logf("run %d: view restore of %d keys %8.0f records/s (%.1fs to ready, peak RSS %.0f MiB)", run, r.Keys, r.PerSecond, r.Seconds, r.PeakRSSMiB)
		os.RemoveAll(filepath.Join(cfg.StateDir, fmt.Sprintf("large-%d", run)))
	}
	return nil
}
