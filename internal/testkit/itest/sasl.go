package itest

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/internal/kafka"
)

// KafkaSASL returns the native stack's SASL_SSL listener and the credentials that reach it
// (from the client-sasl.env that compose/native/stack.sh writes into its run directory:
// $ORDERFLOW_RUN_DIR, or .run at the repository's root). The docker stack has no such listener:
// there (ORDERFLOW_STACK_MODE=docker, set by the Makefile) the test is skipped; anywhere else a
// missing file fails the test.
func KafkaSASL(t testing.TB) ([]string, kafka.Security) {
	t.Helper()
	runDir := os.Getenv("ORDERFLOW_RUN_DIR")
	if runDir == "" {
		_, file, _, _ := runtime.Caller(0) // <repo>/internal/testkit/itest/sasl.go
		runDir = filepath.Join(filepath.Dir(file), "..", "..", "..", ".run")
	}
	path := filepath.Join(runDir, "kafka", "client-sasl.env")
	f, err := os.Open(path)
	if err != nil {
		if os.Getenv("ORDERFLOW_STACK_MODE") == "docker" {
			t.Skip("the docker stack has no SASL_SSL listener")
		}
		t.Fatalf("the native stack's SASL_SSL client settings (run `make up`): %v", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
			env[k] = v
		}
	}
	sec := kafka.Security{
		CAFile:        env[kafka.EnvKafkaCAFile],
		SASLMechanism: env[kafka.EnvKafkaMechanism],
		Username:      env[kafka.EnvKafkaUsername],
		Password:      env[kafka.EnvKafkaPassword],
	}
	if err := sec.Validate(); err != nil || sec.Username == "" || env["ORDERFLOW_BROKERS"] == "" {
		t.Fatalf("%s: incomplete SASL_SSL settings (%v)", path, err)
	}
	return strings.Split(env["ORDERFLOW_BROKERS"], ","), sec
}
