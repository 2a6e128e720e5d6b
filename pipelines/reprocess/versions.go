package reprocess

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Shadow is the topology of a rebuild of processor as version: live's versions with processor
// at version, every emit and dead letter written to the version's private topics.
func Shadow(live topology.Topology, processor, version string) topology.Topology {
	t := live.WithVersion(processor, version)
	t.Shadow = true
	return t
}

// versionTopics lists what a table version of processor owns: its group table and, for a shadow
// version, its private output and dead-letter topics (never a live topic).
func versionTopics(t topology.Topology, processor string) []kafka.Topic {
	spec, _ := catalog.Spec(t, processor)
	out := []kafka.Topic{{Name: string(t.Table(processor)), Partitions: t.Partitions, Compacted: true}}
	if !t.Shadow {
		return out
	}
	for _, o := range spec.Writes(t) {
		out = append(out, kafka.Topic{Name: string(o), Partitions: t.Partitions, Retention: kafka.EventRetention()})
	}
	return out
}

func createVersionTopics(brokers []string, t topology.Topology, processor string) error {
	admin, err := kafka.NewAdmin(brokers)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := kafka.EnsureTopics(admin, versionTopics(t, processor)); err != nil {
		return fmt.Errorf("reprocess: topics of %s: %w", t.Group(processor), err)
	}
	return nil
}

// Compare compares the table of processor at version with the serving one's, with the
// processor's table codec.
func Compare(ctx context.Context, ep endpoints.Endpoints, live topology.Topology, processor, version string) (Diff, error) {
	serde, err := codec.New(codec.NewSRClient(ep.RegistryURL, codec.WithBasicAuth(ep.RegistryCredentials())))
	if err != nil {
		return Diff{}, err
	}
	table := catalog.ComparedTable(live, serde, processor)
	other := live.WithVersion(processor, version)
	return CompareTables(ctx, ep.Brokers, table, string(live.Table(processor)), string(other.Table(processor)))
}

// Switch makes version the serving table version of processor: instances started from then on
// (`orderflow run`) run its group, write its emits to the live topics and serve its table in
// the views; stop the instances of the old version once the new ones run (blue/green).
//
// The version's group then goes on from its committed offsets. Where those are ahead of the
// serving group's (inputs the rebuild consumed that the serving version has not yet), they are
// moved back to the serving group's: those inputs are delivered again, and since the version's
// state already holds them (a replay, see streams.DurableCallback), their emits are sent to the
// live topics then, so nothing the serving version had still to emit is lost.
func Switch(ctx context.Context, ep endpoints.Endpoints, live topology.Topology, processor, version string) error {
	if err := topology.ValidateVersion(version); err != nil {
		return err
	}
	if version == live.Version(processor) {
		return fmt.Errorf("reprocess: %s already serves version %q", processor, display(version))
	}
	next := live.WithVersion(processor, version)
	client, err := sarama.NewClient(ep.Brokers, kafka.NewSaramaConfig("orderflow-switch"))
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	topics, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("switch: list topics: %w", err)
	}
	if _, ok := topics[string(next.Table(processor))]; !ok {
		return fmt.Errorf("switch: no table %s: rebuild it first (orderflow reprocess --processor %s --table-version %s)",
			next.Table(processor), processor, display(version))
	}
	group := string(next.Group(processor))
	if err := requireIdle(admin, group); err != nil {
		return err
	}
	inputs := catalog.Inputs(next)[group]
	partitions := map[string][]int32{}
	for _, in := range inputs {
		ps, err := client.Partitions(in)
		if err != nil {
			return fmt.Errorf("switch: partitions of %s: %w", in, err)
		}
		partitions[in] = ps
	}
	mine, err := admin.ListConsumerGroupOffsets(group, partitions)
	if err != nil {
		return fmt.Errorf("switch: offsets of %s: %w", group, err)
	}
	serving, err := admin.ListConsumerGroupOffsets(string(live.Group(processor)), partitions)
	if err != nil {
		return fmt.Errorf("switch: offsets of %s: %w", live.Group(processor), err)
	}
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	moved := 0
	for topic, ps := range partitions {
		for _, p := range ps {
			m, s := mine.GetBlock(topic, p), serving.GetBlock(topic, p)
			if m == nil || s == nil || s.Offset < 0 || m.Offset <= s.Offset {
				continue
			}
			pom, err := om.ManagePartition(topic, p)
			if err != nil {
				return fmt.Errorf("switch: %s/%d: %w", topic, p, err)
			}
			pom.ResetOffset(s.Offset, "")
			moved++
		}
	}
	om.Commit()
	if err := om.Close(); err != nil {
		return fmt.Errorf("switch: commit offsets of %s: %w", group, err)
	}
	if moved > 0 {
		slog.Info("switch: offsets moved back to the serving group's; those inputs are replayed", "group", group, "partitions", moved)
	}
	return topology.SaveVersion(ep.Brokers, live, processor, version)
}

// requireIdle fails when group has members: a version being rebuilt or run cannot be switched
// to or dropped.
func requireIdle(admin sarama.ClusterAdmin, group string) error {
	ds, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil {
		return fmt.Errorf("describe group %s: %w", group, err)
	}
	for _, d := range ds {
		if len(d.Members) > 0 {
			return fmt.Errorf("group %s has %d running members: stop them first", group, len(d.Members))
		}
	}
	return nil
}

// Dropped lists what Drop deleted.
type Dropped struct {
	Group  string
	Topics []string
}

// Drop deletes a table version of processor that is not serving: its consumer group, its group
// table, its private topics and its rebuild's local state under stateDir. Live topics are never
// deleted.
func Drop(ctx context.Context, ep endpoints.Endpoints, live topology.Topology, processor, version, stateDir string) (Dropped, error) {
	if err := topology.ValidateVersion(version); err != nil {
		return Dropped{}, err
	}
	if !slices.Contains(topology.Processors(), processor) {
		return Dropped{}, fmt.Errorf("drop: unknown processor %q", processor)
	}
	if version == live.Version(processor) {
		return Dropped{}, fmt.Errorf("drop: version %q of %s is serving: switch to another version first", display(version), processor)
	}
	t := Shadow(live, processor, version)
	if version == "" {
		t.Shadow = false // the unversioned version wrote to the live topics: it owns none
	}
	admin, err := kafka.NewAdmin(ep.Brokers)
	if err != nil {
		return Dropped{}, err
	}
	defer admin.Close()
	group := string(t.Group(processor))
	if err := requireIdle(admin, group); err != nil {
		return Dropped{}, fmt.Errorf("drop: %w", err)
	}
	existing, err := admin.ListTopics()
	if err != nil {
		return Dropped{}, fmt.Errorf("drop: list topics: %w", err)
	}
	d := Dropped{Group: group}
	live = live.WithVersion(processor, live.Version(processor)) // names to never delete
	liveTopics := map[string]bool{}
	for _, lt := range live.Topics() {
		liveTopics[lt.Name] = true
	}
	liveTopics[string(live.Table(processor))] = true
	for _, vt := range versionTopics(t, processor) {
		if liveTopics[vt.Name] {
			return Dropped{}, fmt.Errorf("drop: %s is a live topic; refusing", vt.Name)
		}
		if _, ok := existing[vt.Name]; !ok {
			continue
		}
		if err := admin.DeleteTopic(vt.Name); err != nil {
			return d, fmt.Errorf("drop: delete topic %s: %w", vt.Name, err)
		}
		d.Topics = append(d.Topics, vt.Name)
	}
	if err := admin.DeleteConsumerGroup(group); err != nil && !errors.Is(err, sarama.ErrGroupIDNotFound) {
		return d, fmt.Errorf("drop: delete group %s: %w", group, err)
	}
	if stateDir != "" {
		_ = os.RemoveAll(filepath.Join(stateDir, group))
	}
	return d, nil
}

// VersionInfo describes the table versions of one processor.
type VersionInfo struct {
	Processor string
	Serving   string   // "" for the unversioned one
	Versions  []string // versions whose table exists ("" for the unversioned one)
}

// Versions lists, per processor, the table versions whose tables exist and the serving one.
func Versions(ctx context.Context, ep endpoints.Endpoints, live topology.Topology) ([]VersionInfo, error) {
	admin, err := kafka.NewAdmin(ep.Brokers)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return nil, fmt.Errorf("versions: list topics: %w", err)
	}
	var out []VersionInfo
	for _, p := range topology.Processors() {
		re := regexp.MustCompile("^" + regexp.QuoteMeta(live.Prefix+"."+p) + `(?:\.([a-zA-Z0-9][a-zA-Z0-9_-]*))?-table$`)
		info := VersionInfo{Processor: p, Serving: live.Version(p)}
		for name := range topics {
			if m := re.FindStringSubmatch(name); m != nil {
				info.Versions = append(info.Versions, m[1])
			}
		}
		sort.Strings(info.Versions)
		out = append(out, info)
	}
	return out, nil
}

func display(version string) string {
	if version == "" {
		return topology.Unversioned
	}
	return version
}

// ParseVersion maps the command-line name of a version to its name ("unversioned" → "").
func ParseVersion(s string) string {
	if s == topology.Unversioned {
		return ""
	}
	return s
}
