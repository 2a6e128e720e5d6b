package kafka

import (
	"testing"

	"github.com/IBM/sarama"
)

// Kafka's own vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2).
var kafkaMurmur2Vectors = map[string]int32{
	"21":                         -973932308,
	"foobar":                     -790332482,
	"a-little-bit-long-string":   -985981536,
	"a-little-bit-longer-string": -1486304829,
	"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
	"abc": 479470107,
}

func TestMurmur2MatchesKafkaVectors(t *testing.T) {
	for key, want := range kafkaMurmur2Vectors {
		if got := Murmur2([]byte(key)); got != want {
			t.Errorf("Murmur2(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestPartitionerAgreesWithJavaPlacement(t *testing.T) {
	const partitions = 6
	p := NewMurmur2Partitioner("t")
	if !p.RequiresConsistency() {
		t.Fatal("partitioner must be consistent for keyed messages")
	}
	negatives := 0
	for key, h := range kafkaMurmur2Vectors {
		if h < 0 {
			negatives++
		}
		want := (h & 0x7fffffff) % partitions
		got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, partitions)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || PartitionFor([]byte(key), partitions) != want {
			t.Errorf("key %q: sarama partition %d, PartitionFor %d, Java places it on %d",
				key, got, PartitionFor([]byte(key), partitions), want)
		}
		// goka computes abs(int32(Sum32())) % n for views and processors.
		hh := NewMurmur2Hasher()
		hh.Write([]byte(key))
		g := int32(hh.Sum32())
		if g < 0 {
			g = -g
		}
		if g%partitions != want {
			t.Errorf("key %q: goka-style placement %d, Java %d", key, g%partitions, want)
		}
	}
	if negatives == 0 {
		t.Fatal("vectors must include negative hashes, where naive abs() differs from Java")
	}
}
