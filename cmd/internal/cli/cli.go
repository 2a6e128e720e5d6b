// Package cli is what orderflow's binaries share: the endpoint flags and the Kafka client security read from the environment.
package cli

import (
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/kafka"
)

// BindEndpoints binds the endpoint flags to cfg (its values, from the environment, are the
// defaults). The registry's credentials get no flag: a flag's value shows in --help and in the
// process list, so they come from the environment only (see package endpoints).
func BindEndpoints(root *cobra.Command, cfg *endpoints.Endpoints) {
	f := root.PersistentFlags()
	f.StringSliceVar(&cfg.Brokers, "brokers", cfg.Brokers, "Kafka bootstrap servers (env ORDERFLOW_BROKERS)")
	f.StringVar(&cfg.PGDSN, "pg-dsn", cfg.PGDSN, "PostgreSQL DSN (env ORDERFLOW_PG_DSN; the default is for the local stack only)")
	f.StringVar(&cfg.RegistryURL, "registry-url", cfg.RegistryURL, "Confluent-compatible schema registry base URL (env ORDERFLOW_REGISTRY_URL; basic-auth credentials only from env ORDERFLOW_REGISTRY_USERNAME and ORDERFLOW_REGISTRY_PASSWORD)")
	f.StringVar(&cfg.ConnectURL, "connect-url", cfg.ConnectURL, "Kafka Connect REST URL (env ORDERFLOW_CONNECT_URL)")
	f.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of one request to Kafka, Connect, the registry or PostgreSQL")
	// --help shows the defaults, which come from the environment: never their passwords
	for _, name := range []string{"pg-dsn", "registry-url", "connect-url"} {
		fl := f.Lookup(name)
		fl.DefValue = endpoints.Redact(fl.DefValue)
	}
}

// ConfigureKafka reads the Kafka client's TLS and SASL settings (ORDERFLOW_KAFKA_*) and makes
// them the process's, so that a malformed setting stops the verb with its reason before any
// client dials.
func ConfigureKafka() error {
	sec, err := kafka.SecurityFromEnv()
	if err != nil {
		return err
	}
	kafka.SetSecurity(sec)
	return nil
}
