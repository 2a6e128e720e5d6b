package bench

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

// Setting is one named value that affects the figures.
type Setting struct {
	Area  string `json:"area"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Settings records the machine and every configuration value that affects the figures, read
// from the running stack and from orderflow's own configuration.
func Settings(ctx context.Context, ep endpoints.Endpoints) []Setting {
	var out []Setting
	add := func(area, name, value string) { out = append(out, Setting{area, name, value}) }
	add("machine", "cores", strconv.Itoa(runtime.NumCPU()))
	add("machine", "cpu", firstMatch("/proc/cpuinfo", `model name\s*:\s*(.+)`))
	if kb, err := strconv.ParseInt(firstMatch("/proc/meminfo", `MemTotal:\s*(\d+) kB`), 10, 64); err == nil {
		add("machine", "memory", fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20)))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		add("machine", "kernel", strings.TrimSpace(string(b)))
	}
	add("machine", "go", runtime.Version())
	add("machine", "date", time.Now().UTC().Format(time.RFC3339))

	add("topics", "partitions per co-partitioned topic", strconv.Itoa(topology.DefaultPartitions))
	add("topics", "replication factor", "1 (single broker)")
	sc := kafka.NewSaramaConfig("settings")
	add("orderflow producers (sarama, goka emits)", "acks", "all in-sync replicas")
	pc := kafka.NewProcessorProducerConfig("settings")
	add("orderflow producers (sarama, goka emits)", "linger (Flush.Frequency / Flush.Messages / Flush.Bytes)",
		fmt.Sprintf("%s / %d / %d KiB (ORDERFLOW_PRODUCER_LINGER; 0: send as soon as possible)", pc.Producer.Flush.Frequency, pc.Producer.Flush.Messages, pc.Producer.Flush.Bytes>>10))
	add("orderflow producers (sarama, goka emits)", "compression", pc.Producer.Compression.String())
	add("orderflow producers (sarama, goka emits)", "partitioner", "murmur2 (as Kafka's Java client)")
	add("goka", "flush", "goka emits each output as it is produced (no batching of its own); the table write and emits of one input are awaited before its offset is marked")
	add("goka", "offset commit interval", sc.Consumer.Offsets.AutoCommit.Interval.String())
	add("goka", "consumer fetch default / channel buffer", fmt.Sprintf("%d KiB / %d messages per partition", sc.Consumer.Fetch.Default>>10, sc.ChannelBufferSize))
	add("goka", "local storage", streams.StorageSettings())
	add("goka", "table values", "payments, reservations, inventory, shipping: compact binary (streams.StateCodec); order-status: Avro (registry)")
	add("orderflow run", "GOGC", "200 unless set")

	if conn, err := connectors.OutboxConnector(); err == nil {
		for _, k := range []string{"poll.interval.ms", "max.batch.size", "max.queue.size", "plugin.name", "snapshot.mode"} {
			v, ok := conn.Config[k]
			if !ok {
				v = map[string]string{"max.queue.size": "8192 (Debezium default)"}[k]
			}
			if v != "" {
				add("debezium", k, v)
			}
		}
	}
	add("debezium", "Connect producer", "Kafka 4 client defaults (linger.ms 5, batch.size 16384, no compression); offset.flush.interval.ms 1000")

	if conn, err := pgx.Connect(ctx, ep.PGDSN); err == nil {
		for _, k := range []string{"server_version", "wal_level", "synchronous_commit", "fsync", "wal_writer_delay", "shared_buffers", "max_wal_size", "checkpoint_timeout"} {
			var v string
			if err := conn.QueryRow(ctx, "SHOW "+k).Scan(&v); err == nil {
				add("postgresql", k, v)
			}
		}
		conn.Close(ctx)
	}
	for comp, heap := range jvmHeaps() {
		add("jvm heaps", comp, heap)
	}
	return out
}

var xmx = regexp.MustCompile(`-Xm[sx]\S+`)

// jvmHeaps returns the -Xms/-Xmx flags of the stack's JVMs by component.
func jvmHeaps() map[string]string {
	out := map[string]string{}
	for pid, comp := range stackProcesses() {
		if comp == CompPostgres {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		out[comp] = strings.Join(xmx.FindAllString(strings.ReplaceAll(string(cmdline), "\x00", " "), -1), " ")
	}
	return out
}

func firstMatch(path, pattern string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(pattern).FindStringSubmatch(string(b))
	if len(m) < 2 {
		return ""
	}
	return strings.TrimSpace(m[1])
}
