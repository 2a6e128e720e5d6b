package kafka

import (
	"testing"

	"github.com/IBM/sarama"
)

// Every config orderflow builds passes sarama's own validation (which every client, consumer and
// admin included, runs) and produces idempotently: a retried batch can neither duplicate nor
// reorder a partition's records.
func TestConfigsValidateAndAreIdempotent(t *testing.T) {
	cases := []struct {
		name   string
		linger string // ORDERFLOW_PRODUCER_LINGER
		build  func(string) *sarama.Config
	}{
		{"producer", "", NewProducerConfig},
		{"processor producer", "", NewProcessorProducerConfig},
		{"processor producer, no linger", "0s", NewProcessorProducerConfig},
		{"processor producer, 50ms linger", "50ms", NewProcessorProducerConfig},
	}
	if err := NewSaramaConfig("t").Validate(); err != nil {
		t.Fatalf("sarama refuses the base config: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ORDERFLOW_PRODUCER_LINGER", tc.linger)
			c := tc.build("t")
			if err := c.Validate(); err != nil {
				t.Fatalf("sarama refuses the config: %v", err)
			}
			if !c.Producer.Idempotent || c.Net.MaxOpenRequests != 1 || c.Producer.RequiredAcks != sarama.WaitForAll || c.Producer.Retry.Max < 1 {
				t.Errorf("idempotent %v, max open requests %d, acks %d, retries %d; want true, 1, all (-1), ≥ 1",
					c.Producer.Idempotent, c.Net.MaxOpenRequests, c.Producer.RequiredAcks, c.Producer.Retry.Max)
			}
		})
	}
}
