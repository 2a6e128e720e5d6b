package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Topic describes a topic orderflow owns.
type Topic struct {
	Name       string
	Partitions int32
	Compacted  bool // cleanup.policy=compact (tables and changelogs); Retention does not apply
	// Retention is how long a non-compacted topic keeps records: InfiniteRetention (or any
	// negative value) for ever, a positive duration for that long, 0 for the broker's default.
	Retention time.Duration
	Config    map[string]string // extra topic settings; they win over the ones derived above
}

// ErrPartitionMismatch is returned when an existing topic has a different partition count than
// wanted: co-partitioned topics must agree, and Kafka cannot shrink a topic.
var ErrPartitionMismatch = errors.New("partition count mismatch")

// InfiniteRetention keeps records for ever (retention.ms=-1). It is -1ms, not -1ns, so that
// Milliseconds() is -1 wherever a client turns a time.Duration into retention.ms (goka's
// TopicManagerConfig.Stream.Retention does).
const InfiniteRetention = -time.Millisecond

// DefaultEventRetention is how long event streams keep records unless configured: for ever, since
// rebuilding a processor's table (reprocessing) replays its inputs from the first record.
const DefaultEventRetention = InfiniteRetention

// EventRetention is DefaultEventRetention unless ORDERFLOW_EVENT_RETENTION ("infinite", or a Go
// duration such as "2160h") says otherwise; a malformed value is logged and ignored.
func EventRetention() time.Duration {
	v := strings.TrimSpace(os.Getenv("ORDERFLOW_EVENT_RETENTION"))
	if v == "" {
		return DefaultEventRetention
	}
	d, err := ParseRetention(v)
	if err != nil {
		slog.Warn("ORDERFLOW_EVENT_RETENTION ignored; event topics keep records for ever", "err", err)
		return DefaultEventRetention
	}
	return d
}

// ParseRetention parses "infinite" (or "-1") as InfiniteRetention, and a Go duration of at least
// one millisecond as itself.
func ParseRetention(s string) (time.Duration, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "infinite", "-1":
		return InfiniteRetention, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Millisecond {
		return 0, fmt.Errorf("retention %q: want \"infinite\" or a Go duration of at least 1ms such as \"2160h\"", s)
	}
	return d, nil
}

// retentionMS renders a Topic.Retention as retention.ms ("" for the broker's default).
func retentionMS(d time.Duration) string {
	switch {
	case d < 0:
		return "-1"
	case d == 0:
		return ""
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// Replication is how many copies of each partition a topic keeps, and how many of them must have
// a write before an acks=all produce (every orderflow producer's) succeeds.
type Replication struct {
	Factor            int16 // replication factor of the topics EnsureTopics creates
	MinInsyncReplicas int   // min.insync.replicas of every topic
}

// DefaultReplication is right for a cluster of n brokers: min(3, n) replicas, and
// min.insync.replicas 2 with three or more (an acknowledged write is on two brokers, and one
// broker may be down without stopping writes), else 1.
func DefaultReplication(brokers int) Replication {
	f := min(3, max(brokers, 1))
	return Replication{Factor: int16(f), MinInsyncReplicas: minInsyncFor(f)}
}

func minInsyncFor(factor int) int {
	if factor >= 3 {
		return 2
	}
	return 1
}

// Validate reports a replication that cannot work: no replica, or more in-sync replicas required
// than there are replicas (every acks=all write would be refused).
func (r Replication) Validate() error {
	switch {
	case r.Factor < 1:
		return fmt.Errorf("replication factor %d: must be at least 1", r.Factor)
	case r.MinInsyncReplicas < 1 || r.MinInsyncReplicas > int(r.Factor):
		return fmt.Errorf("min.insync.replicas %d: must be between 1 and the replication factor %d", r.MinInsyncReplicas, r.Factor)
	}
	return nil
}

// ReplicationFromEnv is DefaultReplication(brokers) with ORDERFLOW_REPLICATION_FACTOR and
// ORDERFLOW_MIN_INSYNC_REPLICAS applied; a factor set alone brings its own default
// min.insync.replicas (2 from three replicas, else 1). Malformed or inconsistent values are an
// error, as is a factor larger than the cluster.
func ReplicationFromEnv(brokers int) (Replication, error) {
	r := DefaultReplication(brokers)
	if v := strings.TrimSpace(os.Getenv("ORDERFLOW_REPLICATION_FACTOR")); v != "" {
		f, err := strconv.ParseInt(v, 10, 16)
		if err != nil {
			return Replication{}, fmt.Errorf("ORDERFLOW_REPLICATION_FACTOR %q: not a number", v)
		}
		r = Replication{Factor: int16(f), MinInsyncReplicas: minInsyncFor(int(f))}
	}
	if v := strings.TrimSpace(os.Getenv("ORDERFLOW_MIN_INSYNC_REPLICAS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Replication{}, fmt.Errorf("ORDERFLOW_MIN_INSYNC_REPLICAS %q: not a number", v)
		}
		r.MinInsyncReplicas = n
	}
	if err := r.Validate(); err != nil {
		return Replication{}, err
	}
	if int(r.Factor) > brokers {
		return Replication{}, fmt.Errorf("replication factor %d: the cluster has %d broker(s)", r.Factor, brokers)
	}
	return r, nil
}

// ClusterReplication is ReplicationFromEnv for the number of brokers in the cluster's metadata.
func ClusterReplication(admin sarama.ClusterAdmin) (Replication, error) {
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return Replication{}, fmt.Errorf("describe cluster: %w", err)
	}
	return ReplicationFromEnv(len(brokers))
}

// EnsureOption adjusts EnsureTopics.
type EnsureOption func(*ensureConfig)

type ensureConfig struct{ replication *Replication }

// WithReplication sets the replication of the topics instead of ClusterReplication's.
func WithReplication(r Replication) EnsureOption {
	return func(c *ensureConfig) { c.replication = &r }
}

// EnsureTopics creates the topics that do not exist, with the replication factor and
// min.insync.replicas of ClusterReplication (or WithReplication), their retention and their
// cleanup policy. Of those that exist it checks the partition count, and brings
// min.insync.replicas and retention.ms to the wanted values, logging each change: retention only
// ever grows (shortening it would delete records; that is left to an operator, with a warning),
// and min.insync.replicas never exceeds the topic's replicas. A replication factor below the
// wanted one is logged, not changed (that takes a partition reassignment). It is idempotent and
// never deletes a topic or a record.
func EnsureTopics(admin sarama.ClusterAdmin, topics []Topic, opts ...EnsureOption) error {
	var ec ensureConfig
	for _, o := range opts {
		o(&ec)
	}
	if ec.replication == nil {
		r, err := ClusterReplication(admin)
		if err != nil {
			return err
		}
		ec.replication = &r
	} else if err := ec.replication.Validate(); err != nil {
		return err
	}
	r := *ec.replication
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var errs []error
	for _, t := range topics {
		want := topicConfig(t, r)
		if d, ok := existing[t.Name]; ok {
			if d.NumPartitions != t.Partitions {
				errs = append(errs, fmt.Errorf("topic %s has %d partitions, want %d: %w",
					t.Name, d.NumPartitions, t.Partitions, ErrPartitionMismatch))
				continue
			}
			if err := reconcile(admin, t.Name, d, want, r); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		cfg := map[string]*string{}
		for k, v := range want {
			cfg[k] = &v
		}
		err := admin.CreateTopic(t.Name, &sarama.TopicDetail{NumPartitions: t.Partitions, ReplicationFactor: r.Factor, ConfigEntries: cfg}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}

// topicConfig is the configuration t should have under replication r.
func topicConfig(t Topic, r Replication) map[string]string {
	cfg := map[string]string{"min.insync.replicas": strconv.Itoa(r.MinInsyncReplicas)}
	if t.Compacted {
		cfg["cleanup.policy"] = "compact"
	} else if ms := retentionMS(t.Retention); ms != "" {
		cfg["retention.ms"] = ms
	}
	for k, v := range t.Config {
		cfg[k] = v
	}
	return cfg
}

// reconcile brings an existing topic's retention.ms and min.insync.replicas to want, within the
// limits EnsureTopics documents.
func reconcile(admin sarama.ClusterAdmin, topic string, d sarama.TopicDetail, want map[string]string, r Replication) error {
	if d.ReplicationFactor < r.Factor {
		slog.Warn("topic has fewer replicas than wanted; reassign its partitions to raise them",
			"topic", topic, "replication_factor", d.ReplicationFactor, "want", r.Factor)
	}
	var keys []string
	for _, k := range []string{"retention.ms", "min.insync.replicas"} {
		if v, ok := want[k]; ok && (d.ConfigEntries[k] == nil || *d.ConfigEntries[k] != v) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	// ListTopics leaves out values that are the broker's defaults: ask for the effective ones.
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: keys})
	if err != nil {
		return fmt.Errorf("describe config of topic %s: %w", topic, err)
	}
	current := map[string]string{}
	for _, e := range entries {
		current[e.Name] = e.Value
	}
	changes := map[string]sarama.IncrementalAlterConfigsEntry{}
	for _, k := range keys {
		v, cur := want[k], current[k]
		if v == cur {
			continue
		}
		switch k {
		case "retention.ms":
			if !longer(v, cur) {
				slog.Warn("topic keeps its longer retention: shortening it would delete records",
					"topic", topic, "retention.ms", cur, "wanted", v)
				continue
			}
		case "min.insync.replicas":
			if n, _ := strconv.Atoi(v); n > int(d.ReplicationFactor) {
				slog.Warn("topic keeps its min.insync.replicas: more than its replicas would refuse every write",
					"topic", topic, "min.insync.replicas", cur, "wanted", v, "replication_factor", d.ReplicationFactor)
				continue
			}
		}
		changes[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v}
	}
	if len(changes) == 0 {
		return nil
	}
	if err := admin.IncrementalAlterConfig(sarama.TopicResource, topic, changes, false); err != nil {
		return fmt.Errorf("alter config of topic %s: %w", topic, err)
	}
	for k, e := range changes {
		slog.Info("topic config updated", "topic", topic, "key", k, "from", current[k], "to", *e.Value)
	}
	return nil
}

// longer reports whether retention.ms a keeps records longer than b (-1: for ever).
func longer(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	switch {
	case errA != nil || errB != nil:
		return false
	case y < 0:
		return false
	case x < 0:
		return true
	}
	return x > y
}

// NewAdmin returns a cluster admin with orderflow's client settings.
func NewAdmin(brokers []string) (sarama.ClusterAdmin, error) {
	admin, err := sarama.NewClusterAdmin(brokers, NewSaramaConfig("orderflow-admin"))
	if err != nil {
		return nil, fmt.Errorf("connect admin to %v: %w", brokers, err)
	}
	return admin, nil
}

// ReadPartition calls fn for every message of topic/partition from offset from (inclusive) to to
// (exclusive), in order, or until ctx ends.
func ReadPartition(ctx context.Context, consumer sarama.Consumer, topic string, partition int32, from, to int64, fn func(*sarama.ConsumerMessage)) error {
	if to <= from {
		return nil
	}
	pc, err := consumer.ConsumePartition(topic, partition, from)
	if err != nil {
		return fmt.Errorf("consume %s/%d from %d: %w", topic, partition, from, err)
	}
	defer pc.Close()
	for next := from; next < to; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-pc.Messages():
			next = m.Offset + 1
			fn(m)
		}
	}
	return nil
}

// ReadTopic calls fn for every message of every partition of topic, from the oldest offset to the
// end the partition had when its reading began, partition by partition.
func ReadTopic(ctx context.Context, client sarama.Client, topic string, fn func(*sarama.ConsumerMessage)) error {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", topic, err)
	}
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("end of %s/%d: %w", topic, p, err)
		}
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("start of %s/%d: %w", topic, p, err)
		}
		if err := ReadPartition(ctx, consumer, topic, p, oldest, end, fn); err != nil {
			return err
		}
	}
	return nil
}
