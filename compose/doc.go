// Package compose holds no code: it documents and tests the two ways orderflow's stack runs.
//
//   - docker-compose.yml: PostgreSQL, Kafka, Kafka Connect (Debezium) and Apicurio Registry from
//     their official images, for machines with a Docker engine.
//   - native/stack.sh: the same four services from Debian packages and Maven Central jars, for
//     machines without one (CI). `make up` chooses between them.
package compose
