package compose

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type composeFile struct {
	Services map[string]struct {
		Image       string         `yaml:"image"`
		Command     []string       `yaml:"command"`
		Ports       []string       `yaml:"ports"`
		NetworkMode string         `yaml:"network_mode"`
		Volumes     []string       `yaml:"volumes"`
		Environment map[string]any `yaml:"environment"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// We cannot run Docker here, so the compose file is checked for what users rely on: the four
// services from official images on the same ports as the native stack, each with a healthcheck
// and a named volume, PostgreSQL with logical decoding, Connect with Debezium.
func TestComposeFileMatchesNativeStack(t *testing.T) {
	data, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	want := map[string]struct{ imagePrefix, hostPort string }{
		"postgres": {"postgres:15", "5432"},
		"kafka":    {"apache/kafka:4.3.1", "9092"},
		"connect":  {"quay.io/debezium/connect:3.6.1.Final", "8083"},
		"registry": {"apicurio/apicurio-registry:3.3.3", "8081"},
	}
	if len(cf.Services) != len(want) {
		t.Errorf("services = %d, want exactly %d", len(cf.Services), len(want))
	}
	for name, w := range want {
		s, ok := cf.Services[name]
		if !ok {
			t.Errorf("service %s is missing", name)
			continue
		}
		if s.Image != w.imagePrefix {
			t.Errorf("%s: image %q, want %q", name, s.Image, w.imagePrefix)
		}
		published := false
		for _, p := range s.Ports {
			if strings.HasPrefix(p, "127.0.0.1:"+w.hostPort+":") {
				published = true
			}
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %s is published on every interface, not on 127.0.0.1 only", name, p)
			}
		}
		if !published {
			t.Errorf("%s: host port %s not published (ports %v)", name, w.hostPort, s.Ports)
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 {
			t.Errorf("%s: no healthcheck", name)
		}
		named := false
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if _, ok := cf.Volumes[src]; ok {
				named = true
			}
		}
		if !named {
			t.Errorf("%s: no named volume (volumes %v)", name, s.Volumes)
		}
	}
	if cmd := strings.Join(cf.Services["postgres"].Command, " "); !strings.Contains(cmd, "wal_level=logical") {
		t.Errorf("postgres must run with wal_level=logical, command is %q", cmd)
	}
	if strings.Contains(string(data), ":-postgres}") {
		t.Error("docker-compose.yml carries a default password; it must come from compose/.env")
	}
	if _, ok := cf.Services["connect"].Environment["CONNECT_CONFIG_PROVIDERS"]; !ok {
		t.Error("connect must enable the env config provider so connector configs carry no password")
	}
}

// Every port of every service — Connect's REST API (:8083) included, which can create connectors
// reading the whole database — is published on 127.0.0.1 only, and no service shares the host's
// network (network_mode: host would expose every port it listens on to the network).
func TestEveryPortIsPublishedOnLoopbackOnly(t *testing.T) {
	data, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatalf("docker-compose.yml does not parse (ports must use the short \"127.0.0.1:host:container\" syntax): %v", err)
	}
	for _, name := range []string{"postgres", "kafka", "connect", "registry"} {
		if len(cf.Services[name].Ports) == 0 {
			t.Errorf("%s publishes no port", name)
		}
	}
	for name, s := range cf.Services {
		if s.NetworkMode == "host" {
			t.Errorf("%s: network_mode host exposes every port it listens on", name)
		}
		for _, p := range s.Ports {
			if parts := strings.Split(p, ":"); len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("%s: port %q is not published on 127.0.0.1 only (want 127.0.0.1:<host>:<container>)", name, p)
			}
		}
	}
	if got := cf.Services["connect"].Ports; len(got) != 1 || got[0] != "127.0.0.1:8083:8083" {
		t.Errorf("connect: ports %v, want [127.0.0.1:8083:8083] (its REST API on loopback only)", got)
	}
}

// The 3-broker override (make up BROKERS=3 on Docker) makes the cluster the native stack makes:
// three nodes of one quorum on 9092/9192/9292, replication factor 3 and min.insync.replicas 2
// for every topic, Connect's internal topics included.
func TestThreeBrokerOverrideMatchesNativeStack(t *testing.T) {
	data, err := os.ReadFile("docker-compose.brokers3.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatalf("docker-compose.brokers3.yml does not parse: %v", err)
	}
	for i, name := range []string{"kafka", "kafka-2", "kafka-3"} {
		svc, ok := cf.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		env := func(k string) string { return strings.TrimSpace(fmt.Sprint(svc.Environment[k])) }
		port := fmt.Sprint(9092 + 100*i)
		checks := map[string]string{
			"KAFKA_NODE_ID": fmt.Sprint(i + 1), "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093",
			"KAFKA_DEFAULT_REPLICATION_FACTOR": "3", "KAFKA_MIN_INSYNC_REPLICAS": "2", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "3",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "2",
		}
		for k, want := range checks {
			if got := env(k); got != want {
				t.Errorf("%s: %s = %q, want %q", name, k, got, want)
			}
		}
		if !strings.Contains(env("KAFKA_ADVERTISED_LISTENERS"), "EXTERNAL://localhost:"+port) {
			t.Errorf("%s advertises %q, want localhost:%s", name, env("KAFKA_ADVERTISED_LISTENERS"), port)
		}
		if i > 0 && (len(svc.Ports) != 1 || svc.Ports[0] != "127.0.0.1:"+port+":"+port || len(svc.Volumes) != 1 || svc.Healthcheck == nil) {
			t.Errorf("%s: ports %v volumes %v healthcheck %v; want 127.0.0.1:%s, a volume and a healthcheck", name, svc.Ports, svc.Volumes, svc.Healthcheck != nil, port)
		}
	}
	connect := cf.Services["connect"]
	for _, k := range []string{"CONFIG_STORAGE_REPLICATION_FACTOR", "OFFSET_STORAGE_REPLICATION_FACTOR", "STATUS_STORAGE_REPLICATION_FACTOR"} {
		if got := fmt.Sprint(connect.Environment[k]); got != "3" {
			t.Errorf("connect: %s = %s, want 3", k, got)
		}
	}
	if got := fmt.Sprint(connect.Environment["BOOTSTRAP_SERVERS"]); strings.Count(got, ",") != 2 {
		t.Errorf("connect bootstraps from %q, want the three nodes", got)
	}
}
