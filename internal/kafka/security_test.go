package kafka

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

func TestSecurityFromEnvRefusesHalfConfigurations(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"user without password": {EnvKafkaUsername: "u"},
		"password without user": {EnvKafkaPassword: "p"},
		"unknown mechanism":     {EnvKafkaUsername: "u", EnvKafkaPassword: "p", EnvKafkaMechanism: "GSSAPI"},
		"missing CA file":       {EnvKafkaCAFile: filepath.Join(t.TempDir(), "none.pem")},
		"CA file without PEM":   {EnvKafkaCAFile: writeFile(t, "not a certificate")},
		"TLS not a boolean":     {EnvKafkaTLS: "sometimes"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, k := range []string{EnvKafkaTLS, EnvKafkaCAFile, EnvKafkaTLSServer, EnvKafkaMechanism, EnvKafkaUsername, EnvKafkaPassword} {
				t.Setenv(k, env[k])
			}
			if _, err := SecurityFromEnv(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSecurityApplySetsSCRAMOverTLSAndRedactsThePassword(t *testing.T) {
	sec := Security{TLS: true, Username: "orderflow", Password: "s3cret-pass"}
	c := sarama.NewConfig()
	if err := sec.Apply(c); err != nil {
		t.Fatal(err)
	}
	if !c.Net.TLS.Enable || !c.Net.SASL.Enable || c.Net.SASL.Mechanism != sarama.SASLTypeSCRAMSHA512 || c.Net.SASL.SCRAMClientGeneratorFunc == nil {
		t.Fatalf("TLS %v SASL %v mechanism %q", c.Net.TLS.Enable, c.Net.SASL.Enable, c.Net.SASL.Mechanism)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("sarama refuses the configuration: %v", err)
	}
	if s := sec.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "SASL_SSL") {
		t.Fatalf("String() = %q", s)
	}
	// the zero Security turns both off again
	if err := (Security{}).Apply(c); err != nil || c.Net.TLS.Enable || c.Net.SASL.Enable {
		t.Fatalf("zero security left TLS %v SASL %v (%v)", c.Net.TLS.Enable, c.Net.SASL.Enable, err)
	}
}

func TestSCRAMClientSpeaksTheFirstMessage(t *testing.T) {
	c := &scramClient{hash: scram.SHA512}
	if err := c.Begin("orderflow", "pw", ""); err != nil {
		t.Fatal(err)
	}
	first, err := c.Step("")
	if err != nil || !strings.HasPrefix(first, "n,,n=orderflow,r=") || c.Done() {
		t.Fatalf("first message %q, err %v, done %v", first, err, c.Done())
	}
}

func writeFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
