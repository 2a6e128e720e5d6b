package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// Security is how orderflow's Kafka clients reach the brokers: TLS (with the CAs to trust) and
// SASL (PLAIN or SCRAM) credentials. The zero value is PLAINTEXT, which suits the local stack's
// loopback listener and nothing else.
//
// Every sarama configuration made by this package (and so every producer, consumer, admin,
// goka processor, view, emitter and topic manager, the lag reader, the bench and the CLI) carries
// the process's Security: SecurityFromEnv unless SetSecurity chose another.
type Security struct {
	TLS bool // encrypt with TLS; implied by CAFile
	// CAFile is a PEM file of the certificate authorities to trust (the system's when empty).
	CAFile string
	// ServerName overrides the name checked against the broker's certificate (default: the
	// host of the address dialled).
	ServerName string
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty is SCRAM-SHA-512 when a
	// Username is set, no SASL otherwise.
	SASLMechanism string
	Username      string
	Password      string // never logged nor printed; String redacts it
}

// Environment variables read by SecurityFromEnv.
const (
	EnvKafkaTLS       = "ORDERFLOW_KAFKA_TLS"             // "true" to use TLS with the system's CAs
	EnvKafkaCAFile    = "ORDERFLOW_KAFKA_CA_FILE"         // PEM CAs to trust (implies TLS)
	EnvKafkaTLSServer = "ORDERFLOW_KAFKA_TLS_SERVER_NAME" // name to verify instead of the host dialled
	EnvKafkaMechanism = "ORDERFLOW_KAFKA_SASL_MECHANISM"  // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (default)
	EnvKafkaUsername  = "ORDERFLOW_KAFKA_USERNAME"
	EnvKafkaPassword  = "ORDERFLOW_KAFKA_PASSWORD"
)

// SecurityFromEnv reads the ORDERFLOW_KAFKA_* variables and checks them (the CA file is read).
func SecurityFromEnv() (Security, error) {
	s := Security{
		CAFile:        os.Getenv(EnvKafkaCAFile),
		ServerName:    os.Getenv(EnvKafkaTLSServer),
		SASLMechanism: os.Getenv(EnvKafkaMechanism),
		Username:      os.Getenv(EnvKafkaUsername),
		Password:      os.Getenv(EnvKafkaPassword),
	}
	if v := os.Getenv(EnvKafkaTLS); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return Security{}, fmt.Errorf("kafka security: %s=%q is not a boolean", EnvKafkaTLS, v)
		}
		s.TLS = on
	}
	if err := s.Validate(); err != nil {
		return Security{}, err
	}
	return s, nil
}

// Validate reports a mechanism orderflow does not know, credentials given by halves, and a CA
// file that cannot be read or holds no certificate.
func (s Security) Validate() error {
	var errs []error
	switch strings.ToUpper(s.SASLMechanism) {
	case "", sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
	default:
		errs = append(errs, fmt.Errorf("SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.SASLMechanism))
	}
	if (s.Username == "") != (s.Password == "") {
		errs = append(errs, fmt.Errorf("SASL needs both %s and %s", EnvKafkaUsername, EnvKafkaPassword))
	}
	if s.SASLMechanism != "" && s.Username == "" {
		errs = append(errs, fmt.Errorf("SASL mechanism %s set without credentials", s.SASLMechanism))
	}
	if s.CAFile != "" {
		if _, err := s.certPool(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka security: %w", err)
	}
	return nil
}

// String describes s without its password, for logs.
func (s Security) String() string {
	proto := "PLAINTEXT"
	switch {
	case s.usesTLS() && s.Username != "":
		proto = "SASL_SSL"
	case s.usesTLS():
		proto = "SSL"
	case s.Username != "":
		proto = "SASL_PLAINTEXT"
	}
	if s.Username != "" {
		return fmt.Sprintf("%s (%s as %q)", proto, s.mechanism(), s.Username)
	}
	return proto
}

func (s Security) usesTLS() bool { return s.TLS || s.CAFile != "" }

func (s Security) mechanism() sarama.SASLMechanism {
	if s.SASLMechanism == "" {
		return sarama.SASLTypeSCRAMSHA512
	}
	return sarama.SASLMechanism(strings.ToUpper(s.SASLMechanism))
}

func (s Security) certPool() (*x509.CertPool, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", s.CAFile)
	}
	return pool, nil
}

// Apply sets c's TLS and SASL settings to s (turning them off for the zero Security).
func (s Security) Apply(c *sarama.Config) error {
	c.Net.TLS.Enable = false
	c.Net.TLS.Config = nil
	c.Net.SASL.Enable = false
	if s.usesTLS() {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
		if s.CAFile != "" {
			pool, err := s.certPool()
			if err != nil {
				return fmt.Errorf("kafka security: %w", err)
			}
			tc.RootCAs = pool
		}
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = tc
	}
	if s.Username != "" {
		c.Net.SASL.Enable = true
		c.Net.SASL.Handshake = true
		c.Net.SASL.User = s.Username
		c.Net.SASL.Password = s.Password
		c.Net.SASL.Mechanism = s.mechanism()
		switch c.Net.SASL.Mechanism {
		case sarama.SASLTypeSCRAMSHA256:
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
		case sarama.SASLTypeSCRAMSHA512:
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
		}
	}
	return nil
}

// The process's Security: read from the environment on first use unless SetSecurity set it.
var (
	securityMu  sync.Mutex
	securitySet bool
	security    Security
)

// SetSecurity makes s the Security of every sarama configuration this process makes from now on.
func SetSecurity(s Security) {
	securityMu.Lock()
	defer securityMu.Unlock()
	security, securitySet = s, true
}

// CurrentSecurity returns the process's Security, reading the environment on first use. A
// malformed environment is logged and leaves PLAINTEXT, which a secured broker then refuses;
// the CLI checks SecurityFromEnv before any client starts, so it stops with the reason instead.
func CurrentSecurity() Security {
	securityMu.Lock()
	defer securityMu.Unlock()
	if !securitySet {
		s, err := SecurityFromEnv()
		if err != nil {
			slog.Error("kafka: ignoring the ORDERFLOW_KAFKA_* settings", "err", err)
		}
		security, securitySet = s, true
	}
	return security
}

func applySecurity(c *sarama.Config) {
	if err := CurrentSecurity().Apply(c); err != nil {
		slog.Error("kafka: TLS settings", "err", err)
	}
}

// scramClient is sarama's SCRAMClient over xdg-go/scram (the implementation sarama's own
// examples use): one SCRAM conversation per connection.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return fmt.Errorf("scram: %w", err)
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }
func (c *scramClient) Done() bool                            { return c.conv.Done() }
