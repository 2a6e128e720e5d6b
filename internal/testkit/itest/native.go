package itest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
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
	path := filepath.Join(nativeRunDir(), "kafka", "client-sasl.env")
	f, err := os.Open(path)
	if err != nil {
		nativeOnly(t, "the native stack's SASL_SSL client settings", err)
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

// nativeRunDir is the native stack's run directory: $ORDERFLOW_RUN_DIR, or .run at the
// repository's root (as compose/native/stack.sh has it).
func nativeRunDir() string {
	if dir := os.Getenv("ORDERFLOW_RUN_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(repoRoot(), ".run")
}

// ConnectSecret hands the native stack's Connect worker a secret the way an operator would: a
// file named name in the worker's secrets directory (read by its DirectoryConfigProvider, the
// only directory it may read), removed when the test ends. It returns the reference a connector
// configuration carries instead of the value. The docker stack is skipped as in KafkaSASL.
func ConnectSecret(t testing.TB, name, value string) string {
	t.Helper()
	dir := filepath.Join(nativeRunDir(), "connect", "secrets")
	if _, err := os.Stat(dir); err != nil {
		nativeOnly(t, "the native stack's Connect secrets directory", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(abs, name)
	if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return "${dir:" + abs + ":" + name + "}"
}

// nativeOnly ends a test that needs what only the native stack makes (what, missing with err):
// skipped on the docker stack (ORDERFLOW_STACK_MODE=docker, set by the Makefile), failed anywhere
// else.
func nativeOnly(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("ORDERFLOW_STACK_MODE") == "docker" {
		t.Skipf("the docker stack has no %s", strings.TrimPrefix(what, "the native stack's "))
	}
	t.Fatalf("%s (run `make up`): %v", what, err)
}

// StackService runs `compose/native/stack.sh <action> <service>` (start, stop or restart one
// service of the native stack: postgres, kafka, kafka-2, kafka-3, connect, registry) and returns
// its error with the script's output. Failure drills use it; the docker stack is skipped as in
// KafkaSASL.
func StackService(t testing.TB, action, service string) error {
	t.Helper()
	if os.Getenv("ORDERFLOW_STACK_MODE") == "docker" {
		t.Skip("failure drills drive the native stack's processes")
	}
	cmd := exec.Command(filepath.Join(repoRoot(), "compose", "native", "stack.sh"), action, service)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("stack.sh %s %s: %w\n%s", action, service, err, out)
	}
	return nil
}

// ServicePID is the pid of a running native stack service (from its pid file).
func ServicePID(t testing.TB, service string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(nativeRunDir(), "pids", service+".pid"))
	if err != nil {
		nativeOnly(t, "the native stack's pid of "+service, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file of %s: %v", service, err)
	}
	return pid
}

// repoRoot is the repository's root directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0) // <repo>/internal/testkit/itest/native.go
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}
