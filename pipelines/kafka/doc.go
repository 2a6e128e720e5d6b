// Package kafka holds orderflow's Kafka plumbing shared by every component: the sarama
// configuration (protocol version for Kafka 4, producer settings), the Java-compatible murmur2
// partitioner, topic administration and a broker health probe.
//
// It consumes nothing and keeps no state; it is the single place where client settings are made,
// so that every Go producer places keys exactly as Kafka's Java producer (Debezium) does.
package kafka
