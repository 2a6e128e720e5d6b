package kafka

import (
	"hash"

	"github.com/IBM/sarama"
)

// Murmur2 is Kafka's murmur2 hash exactly as the Java client's Utils.murmur2 computes it
// (seed 0x9747b28c), returned as the signed 32-bit value Java sees.
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[length&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// PartitionFor returns the partition Kafka's Java producer picks for a non-null key:
// toPositive(murmur2(key)) % partitions.
func PartitionFor(key []byte, partitions int32) int32 {
	return (Murmur2(key) & 0x7fffffff) % partitions
}

// murmur2Hash is a hash.Hash32 whose Sum32 is murmur2(key) & 0x7fffffff. Because the value is
// already positive, goka's abs(int32(Sum32())) % n, sarama's hash partitioner and Java's
// toPositive(murmur2) % n all pick the same partition.
type murmur2Hash struct{ buf []byte }

// NewMurmur2Hasher returns a fresh Java-compatible hasher; pass it to goka.WithHasher,
// goka.WithViewHasher and goka.WithEmitterHasher.
func NewMurmur2Hasher() hash.Hash32 { return &murmur2Hash{} }

func (h *murmur2Hash) Write(p []byte) (int, error) { h.buf = append(h.buf, p...); return len(p), nil }
func (h *murmur2Hash) Sum(b []byte) []byte {
	s := h.Sum32()
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}
func (h *murmur2Hash) Reset()         { h.buf = h.buf[:0] }
func (h *murmur2Hash) Size() int      { return 4 }
func (h *murmur2Hash) BlockSize() int { return 4 }
func (h *murmur2Hash) Sum32() uint32  { return uint32(Murmur2(h.buf) & 0x7fffffff) }

// NewMurmur2Partitioner is a sarama.PartitionerConstructor placing keyed messages as Kafka's Java
// producer does. Messages without a key are spread randomly.
func NewMurmur2Partitioner(topic string) sarama.Partitioner {
	return sarama.NewCustomPartitioner(sarama.WithAbsFirst(), sarama.WithCustomHashFunction(NewMurmur2Hasher))(topic)
}
