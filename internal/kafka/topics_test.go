package kafka

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestDefaultReplicationFitsTheCluster(t *testing.T) {
	for brokers, want := range map[int]Replication{
		1: {Factor: 1, MinInsyncReplicas: 1},
		2: {Factor: 2, MinInsyncReplicas: 1},
		3: {Factor: 3, MinInsyncReplicas: 2},
		5: {Factor: 3, MinInsyncReplicas: 2},
	} {
		if got := DefaultReplication(brokers); got != want {
			t.Errorf("%d brokers: %+v, want %+v", brokers, got, want)
		}
	}
}

func TestReplicationFromEnv(t *testing.T) {
	cases := []struct {
		brokers     int
		factor, isr string // ORDERFLOW_REPLICATION_FACTOR, ORDERFLOW_MIN_INSYNC_REPLICAS
		want        Replication
		wantErr     bool
	}{
		{brokers: 3, want: Replication{3, 2}},
		{brokers: 3, factor: "1", want: Replication{1, 1}},
		{brokers: 5, factor: "3", isr: "3", want: Replication{3, 3}},
		{brokers: 3, isr: "1", want: Replication{3, 1}},
		{brokers: 1, factor: "3", wantErr: true},           // larger than the cluster
		{brokers: 3, factor: "3", isr: "4", wantErr: true}, // every write refused
		{brokers: 3, factor: "three", wantErr: true},
		{brokers: 3, isr: "0", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d brokers, factor %q, isr %q", tc.brokers, tc.factor, tc.isr), func(t *testing.T) {
			t.Setenv("ORDERFLOW_REPLICATION_FACTOR", tc.factor)
			t.Setenv("ORDERFLOW_MIN_INSYNC_REPLICAS", tc.isr)
			got, err := ReplicationFromEnv(tc.brokers)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted as %+v", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestEventRetention(t *testing.T) {
	for env, want := range map[string]time.Duration{
		"":         InfiniteRetention,
		"infinite": InfiniteRetention,
		"-1":       InfiniteRetention,
		"2160h":    2160 * time.Hour,
		"soon":     InfiniteRetention, // malformed: ignored
		"0s":       InfiniteRetention, // would delete everything: ignored
	} {
		t.Setenv("ORDERFLOW_EVENT_RETENTION", env)
		if got := EventRetention(); got != want {
			t.Errorf("ORDERFLOW_EVENT_RETENTION=%q: %v, want %v", env, got, want)
		}
	}
	if InfiniteRetention.Milliseconds() != -1 {
		t.Errorf("InfiniteRetention.Milliseconds() = %d, want -1 (retention.ms for ever)", InfiniteRetention.Milliseconds())
	}
}

func TestTopicConfig(t *testing.T) {
	r := Replication{Factor: 3, MinInsyncReplicas: 2}
	cases := []struct {
		topic Topic
		want  map[string]string
	}{
		{Topic{Name: "events", Retention: InfiniteRetention}, map[string]string{"retention.ms": "-1", "min.insync.replicas": "2"}},
		{Topic{Name: "week", Retention: 7 * 24 * time.Hour}, map[string]string{"retention.ms": "604800000", "min.insync.replicas": "2"}},
		{Topic{Name: "default"}, map[string]string{"min.insync.replicas": "2"}},
		{Topic{Name: "table", Compacted: true, Retention: InfiniteRetention}, map[string]string{"cleanup.policy": "compact", "min.insync.replicas": "2"}},
		{Topic{Name: "override", Retention: InfiniteRetention, Config: map[string]string{"retention.ms": "1000"}},
			map[string]string{"retention.ms": "1000", "min.insync.replicas": "2"}},
	}
	for _, tc := range cases {
		if got := topicConfig(tc.topic, r); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.topic.Name, got, tc.want)
		}
	}
}

// fakeAdmin is a cluster of brokers whose topics live in memory; only what EnsureTopics calls
// is implemented.
type fakeAdmin struct {
	sarama.ClusterAdmin
	brokers int
	topics  map[string]sarama.TopicDetail
	configs map[string]map[string]string // effective values, defaults included
	altered []string                     // "topic key=value"
}

func (f *fakeAdmin) DescribeCluster() ([]*sarama.Broker, int32, error) {
	return make([]*sarama.Broker, f.brokers), 1, nil
}

func (f *fakeAdmin) ListTopics() (map[string]sarama.TopicDetail, error) {
	out := map[string]sarama.TopicDetail{}
	for name, d := range f.topics {
		d.ConfigEntries = map[string]*string{}
		for k, v := range f.configs[name] {
			if k != "retention.ms" || v != "604800000" { // the broker's default is left out
				d.ConfigEntries[k] = &v
			}
		}
		out[name] = d
	}
	return out, nil
}

func (f *fakeAdmin) CreateTopic(name string, d *sarama.TopicDetail, _ bool) error {
	f.topics[name] = sarama.TopicDetail{NumPartitions: d.NumPartitions, ReplicationFactor: d.ReplicationFactor}
	f.configs[name] = map[string]string{"retention.ms": "604800000", "min.insync.replicas": "1"}
	for k, v := range d.ConfigEntries {
		f.configs[name][k] = *v
	}
	return nil
}

func (f *fakeAdmin) DescribeConfig(r sarama.ConfigResource) ([]sarama.ConfigEntry, error) {
	var out []sarama.ConfigEntry
	for _, k := range r.ConfigNames {
		out = append(out, sarama.ConfigEntry{Name: k, Value: f.configs[r.Name][k]})
	}
	return out, nil
}

func (f *fakeAdmin) IncrementalAlterConfig(_ sarama.ConfigResourceType, name string, entries map[string]sarama.IncrementalAlterConfigsEntry, _ bool) error {
	for k, e := range entries {
		f.configs[name][k] = *e.Value
		f.altered = append(f.altered, name+" "+k+"="+*e.Value)
	}
	return nil
}

func TestEnsureTopicsCreatesAndUpgrades(t *testing.T) {
	t.Setenv("ORDERFLOW_REPLICATION_FACTOR", "")
	t.Setenv("ORDERFLOW_MIN_INSYNC_REPLICAS", "")
	admin := &fakeAdmin{brokers: 3,
		topics: map[string]sarama.TopicDetail{
			"old.events":  {NumPartitions: 6, ReplicationFactor: 3}, // broker default retention
			"kept.events": {NumPartitions: 6, ReplicationFactor: 3}, // longer than wanted
			"thin.events": {NumPartitions: 6, ReplicationFactor: 1}, // from a one-broker past
			"done.events": {NumPartitions: 6, ReplicationFactor: 3}, // already right
		},
		configs: map[string]map[string]string{
			"old.events":  {"retention.ms": "604800000", "min.insync.replicas": "1"},
			"kept.events": {"retention.ms": "-1", "min.insync.replicas": "2"},
			"thin.events": {"retention.ms": "-1", "min.insync.replicas": "1"},
			"done.events": {"retention.ms": "-1", "min.insync.replicas": "2"},
		},
	}
	topics := []Topic{
		{Name: "new.events", Partitions: 6, Retention: InfiniteRetention},
		{Name: "new.table", Partitions: 6, Compacted: true},
		{Name: "old.events", Partitions: 6, Retention: InfiniteRetention},
		{Name: "kept.events", Partitions: 6, Retention: 24 * time.Hour},
		{Name: "thin.events", Partitions: 6, Retention: InfiniteRetention},
		{Name: "done.events", Partitions: 6, Retention: InfiniteRetention},
	}
	if err := EnsureTopics(admin, topics); err != nil {
		t.Fatal(err)
	}
	if d := admin.topics["new.events"]; d.ReplicationFactor != 3 || admin.configs["new.events"]["retention.ms"] != "-1" ||
		admin.configs["new.events"]["min.insync.replicas"] != "2" {
		t.Errorf("new.events created with %d replicas, config %v", d.ReplicationFactor, admin.configs["new.events"])
	}
	if c := admin.configs["new.table"]; c["cleanup.policy"] != "compact" || c["retention.ms"] != "604800000" {
		t.Errorf("new.table config %v, want compacted with no retention of ours", c)
	}
	// The one-broker topic keeps min.insync.replicas 1 (2 would refuse every write), the longer
	// retention is kept, the finite default grows to infinite.
	want := []string{"old.events min.insync.replicas=2", "old.events retention.ms=-1"}
	got := admin.altered
	if len(got) == 2 && got[0] > got[1] {
		got[0], got[1] = got[1], got[0]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("altered %v, want %v", admin.altered, want)
	}

	admin.altered = nil
	if err := EnsureTopics(admin, topics); err != nil || len(admin.altered) != 0 {
		t.Errorf("second run: %v, altered %v; want no change", err, admin.altered)
	}
	if err := EnsureTopics(admin, []Topic{{Name: "old.events", Partitions: 3}}); err == nil {
		t.Error("a partition count mismatch was accepted")
	}
}
