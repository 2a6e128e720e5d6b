//go:build integration

package topology_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

// Apply on a private prefix creates event streams and dead-letter topics that keep records for
// ever, compacted tables without a retention of ours, and every topic with the replication the
// cluster allows (one broker here: one replica, min.insync.replicas 1). An event topic created
// earlier with a finite retention is brought to infinite retention, not recreated.
func TestIntegrationTopicSettings(t *testing.T) {
	cfg := itest.Stack(t)
	t.Setenv("ORDERFLOW_EVENT_RETENTION", "")
	t.Setenv("ORDERFLOW_REPLICATION_FACTOR", "")
	t.Setenv("ORDERFLOW_MIN_INSYNC_REPLICAS", "")
	topo, err := topology.New("itest-topics-" + itest.Suffix())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kafka.NewAdmin(cfg.Brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	t.Cleanup(func() {
		for _, tp := range topo.Topics() {
			_ = admin.DeleteTopic(tp.Name)
		}
	})
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		t.Fatal(err)
	}
	want := kafka.DefaultReplication(len(brokers))
	t.Logf("%d broker(s): replication factor %d, min.insync.replicas %d", len(brokers), want.Factor, want.MinInsyncReplicas)
	if len(brokers) == 1 && (want.Factor != 1 || want.MinInsyncReplicas != 1) {
		t.Fatalf("one broker: %+v, want factor 1 and min.insync.replicas 1", want)
	}

	// A topic from before explicit retention: the broker's default would delete history.
	old := string(topo.OrderEvents())
	if err := kafka.EnsureTopics(admin, []kafka.Topic{{Name: old, Partitions: topo.Partitions, Retention: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if err := topo.Apply(cfg.Brokers); err != nil {
		t.Fatalf("apply: %v", err)
	}

	details, err := admin.DescribeTopics(names(topo.Topics()))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range details {
		for _, p := range d.Partitions {
			if len(p.Replicas) != int(want.Factor) {
				t.Errorf("%s/%d has %d replicas, want %d", d.Name, p.ID, len(p.Replicas), want.Factor)
			}
		}
	}
	for _, tp := range topo.Topics() {
		got := describe(t, admin, tp.Name)
		if got["min.insync.replicas"] != strconv.Itoa(want.MinInsyncReplicas) {
			t.Errorf("%s: min.insync.replicas = %s, want %d", tp.Name, got["min.insync.replicas"], want.MinInsyncReplicas)
		}
		if tp.Compacted {
			if got["cleanup.policy"] != "compact" {
				t.Errorf("%s: cleanup.policy = %s, want compact", tp.Name, got["cleanup.policy"])
			}
			continue
		}
		if got["retention.ms"] != "-1" || got["cleanup.policy"] != "delete" {
			t.Errorf("%s: retention.ms = %s, cleanup.policy = %s; want -1 (for ever), delete", tp.Name, got["retention.ms"], got["cleanup.policy"])
		}
	}
}

func names(topics []kafka.Topic) []string {
	var out []string
	for _, tp := range topics {
		out = append(out, tp.Name)
	}
	return out
}

// describe returns the effective configuration of a topic, broker defaults included.
func describe(t *testing.T, admin sarama.ClusterAdmin, topic string) map[string]string {
	t.Helper()
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic,
		ConfigNames: []string{"retention.ms", "min.insync.replicas", "cleanup.policy"}})
	if err != nil {
		t.Fatalf("describe %s: %v", topic, err)
	}
	out := map[string]string{}
	for _, e := range entries {
		out[e.Name] = e.Value
	}
	return out
}
