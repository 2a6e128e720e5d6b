// Package kafka holds orderflow's Kafka plumbing shared by every component: the sarama
// configuration (protocol version for Kafka 4, idempotent producers), the Java-compatible
// murmur2 partitioner, topic administration (replication and min.insync.replicas fitted to the
// cluster, explicit retention, settings of existing topics brought up to date) and a broker
// health probe.
//
// It consumes nothing and keeps no state; it is the single place where client settings are made,
// so that every Go producer places keys exactly as Kafka's Java producer (Debezium) does.
package kafka
