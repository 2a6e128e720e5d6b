package kafka

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/IBM/sarama"
)

// ProtocolVersion is the Kafka protocol version orderflow's clients announce. Kafka 4 removed the
// old protocol versions (KIP-896), so goka's default (V2_0_0_0) must not be used.
var ProtocolVersion = sarama.V4_0_0_0

// NewSaramaConfig returns the sarama configuration every orderflow client starts from: Kafka 4
// protocol, the murmur2 partitioner, acks from all in-sync replicas with retries, and the
// process's TLS and SASL settings (CurrentSecurity). Clients that
// produce use NewProducerConfig, which adds idempotence.
func NewSaramaConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = ProtocolVersion
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	// A send is retried for about 25 s (100 ms doubling to 1 s, 30 tries): long enough to ride
	// out a partition leader's failure, which the cluster notices only after the broker's
	// session timeout (9 s by default) when its broker was killed or paused.
	c.Producer.Retry.Max = ProducerRetries
	c.Producer.Retry.BackoffFunc = producerBackoff
	c.Producer.Partitioner = NewMurmur2Partitioner
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Commit often: after a crash, only inputs since the last commit are delivered again.
	c.Consumer.Offsets.AutoCommit.Interval = 250 * time.Millisecond
	applySecurity(c)
	return c
}

// ProducerRetries is how many times a producer tries a send again (see producerBackoff).
const ProducerRetries = 30

func producerBackoff(retries, _ int) time.Duration {
	return min(100*time.Millisecond<<min(retries, 4), time.Second)
}

// DefaultProducerLinger is how long a processor's producer gathers emits and table writes into
// one produce request. Each goka emit and table write was otherwise a request of its own; a few
// milliseconds per hop buy far fewer requests (less broker and client CPU per message) for a
// latency the freshness benchmark reports.
const DefaultProducerLinger = 5 * time.Millisecond

// ProducerLinger is DefaultProducerLinger unless ORDERFLOW_PRODUCER_LINGER (a Go duration,
// "0s" to send at once) says otherwise.
func ProducerLinger() time.Duration {
	if v := os.Getenv("ORDERFLOW_PRODUCER_LINGER"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
	}
	return DefaultProducerLinger
}

// NewProducerConfig is NewSaramaConfig for a client that produces: producers keep each
// partition's order under retries with the idempotent producer (the broker drops a retried batch
// it already has and refuses one out of sequence), which sarama allows only with one request in
// flight per broker connection (Net.MaxOpenRequests = 1). That limit is why consumers, whose
// group heartbeats and offset commits share the connection with long-polling fetches, keep
// NewSaramaConfig's five.
func NewProducerConfig(clientID string) *sarama.Config {
	c := NewSaramaConfig(clientID)
	c.Net.MaxOpenRequests = 1
	c.Producer.Idempotent = true
	return c
}

// NewProcessorProducerConfig is NewProducerConfig for the producer of a goka processor: emits and
// table writes are batched for ProducerLinger (and sent early once 1000 messages or 1 MiB wait).
func NewProcessorProducerConfig(clientID string) *sarama.Config {
	c := NewProducerConfig(clientID)
	if linger := ProducerLinger(); linger > 0 {
		c.Producer.Flush.Frequency = linger
		c.Producer.Flush.Messages = 1000
		c.Producer.Flush.Bytes = 1 << 20
	}
	return c
}

// Probe connects to the brokers and fetches cluster metadata: it succeeds only when a broker
// answers a metadata request, which is what "Kafka is up" means to a client.
func Probe(ctx context.Context, brokers []string) (int, error) {
	cfg := NewSaramaConfig("orderflow-probe")
	cfg.Net.DialTimeout = 3 * time.Second
	cfg.Metadata.Retry.Max = 0
	if dl, ok := ctx.Deadline(); ok {
		cfg.Net.ReadTimeout = time.Until(dl)
	}
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return 0, fmt.Errorf("connect to kafka %v: %w", brokers, err)
	}
	defer client.Close()
	if err := client.RefreshMetadata(); err != nil {
		return 0, fmt.Errorf("fetch metadata from kafka %v: %w", brokers, err)
	}
	return len(client.Brokers()), nil
}
