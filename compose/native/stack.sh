#!/usr/bin/env bash
# orderflow's native local stack: PostgreSQL 15 (Debian packages), Apache Kafka 4.3.1 (KRaft,
# broker+controller), Kafka Connect 4.3.1 with the Debezium PostgreSQL connector 3.6.1.Final, and
# Apicurio Registry 3.3.3, all run from jars fetched with Maven. No Docker needed.
#
#   stack.sh up       fetch what is missing, start what is not running, wait until healthy (idempotent)
#   stack.sh down     stop exactly the processes this script started (by pid); data is kept
#   stack.sh status   print each service, its pid, port and health
#   stack.sh clean    down, then remove data and the run directory
#   stack.sh fetch    only fetch artifacts into the cache
#   stack.sh brokers  print the Kafka bootstrap list (host:port,...) for ORDERFLOW_BROKERS
#   stack.sh start|stop|restart <service>   one service: postgres, kafka (node 1), kafka-2, kafka-3,
#                     connect or registry (for failure drills; start waits until it is healthy)
#
# Environment (all optional):
#   ORDERFLOW_CACHE      artifact cache, outside the repo    (default ~/.cache/orderflow)
#   ORDERFLOW_RUN_DIR    configs, pids, logs and data        (default <repo>/.run)
#   ORDERFLOW_PGDATA     PostgreSQL data directory           (default <run dir>/pgdata when the
#                        postgres user can reach it, else /var/tmp/orderflow-pgdata-<hash>)
#   ORDERFLOW_PG_PASSWORD  password of the local postgres superuser (local-only default: postgres)
#   ORDERFLOW_START_TIMEOUT seconds to wait for each service   (default 180)
#   ORDERFLOW_KAFKA_BROKERS Kafka nodes, 1 or 3 (make up BROKERS=3). Three nodes form one KRaft
#                        quorum with replication factor 3 and min.insync.replicas 2 for every
#                        topic, Connect's and Kafka's internal ones included. A run directory keeps
#                        the count it was first started with (default: that count, else 1).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

KAFKA_VERSION=4.3.1
DEBEZIUM_VERSION=3.6.1.Final
APICURIO_VERSION=3.3.3
PG_MAJOR=15

CACHE="${ORDERFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orderflow}"
RUN_DIR="${ORDERFLOW_RUN_DIR:-$REPO/.run}"
PG_PASSWORD="${ORDERFLOW_PG_PASSWORD:-postgres}"
START_TIMEOUT="${ORDERFLOW_START_TIMEOUT:-180}"
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"

KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
PLUGIN_PATH="$CACHE/connect-plugins-debezium-$DEBEZIUM_VERSION"
APICURIO_HOME="$CACHE/apicurio-registry-$APICURIO_VERSION"

PG_PORT=5432 KAFKA_PORT=9092 KAFKA_SASL_PORT=9094 CONTROLLER_PORT=9093 CONNECT_PORT=8083 REGISTRY_PORT=8081 REGISTRY_MGMT_PORT=9081

# Kafka node i (1-based) listens on 9092/9093/9094 + 100·(i−1): PLAINTEXT, CONTROLLER, SASL_SSL.
kafka_port() { echo $((KAFKA_PORT + 100 * ($1 - 1))); }
controller_port() { echo $((CONTROLLER_PORT + 100 * ($1 - 1))); }
sasl_port() { echo $((KAFKA_SASL_PORT + 100 * ($1 - 1))); }
kafka_service() { if [ "$1" = 1 ]; then echo kafka; else echo "kafka-$1"; fi; }
kafka_dir() { if [ "$1" = 1 ]; then echo "$RUN_DIR/kafka"; else echo "$RUN_DIR/kafka-$1"; fi; }

# broker_count: ORDERFLOW_KAFKA_BROKERS, else what the run directory was started with, else 1. A
# formatted cluster cannot change its quorum here: a different count is refused, not reformatted.
broker_count() {
  local recorded="" want="${ORDERFLOW_KAFKA_BROKERS:-}"
  if [ -f "$RUN_DIR/kafka/brokers" ]; then recorded="$(cat "$RUN_DIR/kafka/brokers")"
  elif [ -f "$RUN_DIR/kafka/data/meta.properties" ]; then recorded=1 # formatted before counts were recorded
  fi
  if [ -z "$want" ]; then want="${recorded:-1}"; fi
  case "$want" in 1|3) ;; *) die "ORDERFLOW_KAFKA_BROKERS must be 1 or 3, not $want" ;; esac
  if [ -n "$recorded" ] && [ "$recorded" != "$want" ] && [ -f "$RUN_DIR/kafka/data/meta.properties" ]; then
    die "$RUN_DIR holds a $recorded-broker Kafka cluster; to run $want brokers, 'make clean' first (this deletes its data) or set ORDERFLOW_RUN_DIR to another directory"
  fi
  echo "$want"
}

# JVM sizing for a 2-core machine: the whole stack stays well under 3 GB RSS.
KAFKA_HEAP="${ORDERFLOW_KAFKA_HEAP:--Xms256m -Xmx512m}"
CONNECT_HEAP="${ORDERFLOW_CONNECT_HEAP:--Xms256m -Xmx512m}"
REGISTRY_HEAP="${ORDERFLOW_REGISTRY_HEAP:--Xms128m -Xmx384m}"
JVM_COMMON=(-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:MaxMetaspaceSize=256m -XX:ReservedCodeCacheSize=96m
  -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true)

log() { printf '%s stack: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# prerequisites and artifacts

as_pg() { # run a command as the PostgreSQL cluster owner (postgres when we are root)
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_os_packages() {
  local missing=()
  [ -x "$PG_BIN/initdb" ] || missing+=("postgresql-$PG_MAJOR")
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v curl >/dev/null || missing+=(curl)
  command -v ss >/dev/null || missing+=(iproute2)
  command -v chromium >/dev/null || missing+=(chromium) # the board's browser test (pipelines/board)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing OS packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian's package may create and start a default cluster on 5432; ours takes that port.
    stop_debian_default_cluster
  else
    die "missing OS packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
  fi
}

stop_debian_default_cluster() {
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver name port status _; do
      if [ "$port" = "$PG_PORT" ] && [ "$status" = online ]; then
        log "stopping Debian's default cluster $ver/$name, which holds port $PG_PORT"
        pg_ctlcluster "$ver" "$name" stop || true
      fi
    done
  fi
}

mvn_get() { # mvn_get <groupId:artifactId:version:type[:classifier]> <dir>
  mvn -B -q dependency:copy -Dartifact="$1" -DoutputDirectory="$2" >/dev/null \
    || die "maven could not fetch $1 (see above)"
}

fetch() {
  mkdir -p "$CACHE"
  if [ ! -f "$KAFKA_LIBS/.complete" ]; then
    log "fetching Kafka $KAFKA_VERSION jars into $KAFKA_LIBS"
    rm -rf "$KAFKA_LIBS"
    mvn -B -q -f "$HERE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KAFKA_LIBS" >/dev/null || die "maven could not fetch Kafka's jars"
    touch "$KAFKA_LIBS/.complete"
  fi
  if [ ! -f "$PLUGIN_PATH/.complete" ]; then
    log "fetching Debezium PostgreSQL connector $DEBEZIUM_VERSION into $PLUGIN_PATH"
    rm -rf "$PLUGIN_PATH" && mkdir -p "$PLUGIN_PATH" "$CACHE/downloads"
    mvn_get "io.debezium:debezium-connector-postgres:$DEBEZIUM_VERSION:tar.gz:plugin" "$CACHE/downloads"
    tar xzf "$CACHE/downloads/debezium-connector-postgres-$DEBEZIUM_VERSION-plugin.tar.gz" -C "$PLUGIN_PATH"
    touch "$PLUGIN_PATH/.complete"
  fi
  if [ ! -f "$APICURIO_HOME/.complete" ]; then
    log "fetching Apicurio Registry $APICURIO_VERSION into $APICURIO_HOME"
    rm -rf "$APICURIO_HOME" && mkdir -p "$APICURIO_HOME" "$CACHE/downloads"
    mvn_get "io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" "$CACHE/downloads"
    tar xzf "$CACHE/downloads/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$APICURIO_HOME"
    touch "$APICURIO_HOME/.complete"
  fi
}

# ---------------------------------------------------------------------------------------------
# process bookkeeping: a service is "ours" when its pid file names a live process whose command
# line mentions our run directory (so a recycled pid is never mistaken for ours)

pidfile() { echo "$RUN_DIR/pids/$1.pid"; }

service_pid() { # prints the pid of our live service, or nothing (and removes a stale pid file)
  local f pid marker="$RUN_DIR"
  f="$(pidfile "$1")"
  [ -f "$f" ] || return 0
  # postgres' command line names its data directory, which may live outside the run directory
  [ "$1" = postgres ] && [ -f "$RUN_DIR/pgdata.path" ] && marker="$(cat "$RUN_DIR/pgdata.path")"
  pid="$(cat "$f" 2>/dev/null || true)"
  if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"; then
    echo "$pid"
  else
    rm -f "$f"
  fi
}

port_holder() { # prints "pid/name" of the process listening on the port, if any
  ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\),pid=\([0-9]*\).*/\2\/\1/p' | head -1
}

port_listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

wait_port_free() { # a killed service's port may take a moment to close
  local port=$1 deadline=$((SECONDS + 30))
  while port_listening "$port"; do
    if [ $SECONDS -ge $deadline ]; then
      die "port $port is held by another process ($(port_holder "$port")); stop it or free the port"
    fi
    sleep 0.5
  done
}

stop_pid() { # TERM, wait, then KILL
  local pid=$1 name=$2 deadline=$((SECONDS + 45))
  kill -TERM "$pid" 2>/dev/null || return 0
  while alive "$pid"; do
    if [ $SECONDS -ge $deadline ]; then
      log "$name (pid $pid) did not stop in time; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.3
  done
}

launch() { # launch <name> <log> <cmd...>: start a detached JVM and record its pid
  local name=$1 logfile=$2
  shift 2
  mkdir -p "$RUN_DIR/pids" "$RUN_DIR/logs"
  setsid nohup "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}

wait_healthy() { # wait_healthy <name> <probe fn>: poll, never sleep blindly
  local name=$1 probe=$2 deadline=$((SECONDS + START_TIMEOUT))
  until $probe; do
    if [ -z "$(service_pid "$name")" ]; then
      die "$name exited during start-up; see $RUN_DIR/logs/$name.log"
    fi
    if [ $SECONDS -ge $deadline ]; then
      die "$name not healthy after ${START_TIMEOUT}s; see $RUN_DIR/logs/$name.log"
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# health probes

probe_postgres() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d orderflow -U postgres; }

KAFKA_CLIENT_ENV_VARS=(ORDERFLOW_KAFKA_TLS ORDERFLOW_KAFKA_CA_FILE ORDERFLOW_KAFKA_TLS_SERVER_NAME
  ORDERFLOW_KAFKA_SASL_MECHANISM ORDERFLOW_KAFKA_USERNAME ORDERFLOW_KAFKA_PASSWORD)

probe_kafka() { # node ${1:-1}'s metadata answers on its PLAINTEXT listener, through the orderflow CLI (sarama)
  env "${KAFKA_CLIENT_ENV_VARS[@]/#/-u}" ORDERFLOW_BROKERS="localhost:$(kafka_port "${1:-1}")" \
    "$ORDERFLOW_BIN" stack probe kafka >/dev/null 2>&1
}

bootstrap_list() { # the PLAINTEXT listeners of every node: localhost:9092[,localhost:9192,localhost:9292]
  local i out=""
  for i in $(seq 1 "$BROKER_COUNT"); do out="${out:+$out,}localhost:$(kafka_port "$i")"; done
  echo "$out"
}

probe_connect() {
  curl -fs --max-time 3 "http://127.0.0.1:$CONNECT_PORT/connector-plugins" 2>/dev/null \
    | grep -q 'io.debezium.connector.postgresql.PostgresConnector'
}

probe_registry() { curl -fs --max-time 3 -o /dev/null "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects"; }

# ---------------------------------------------------------------------------------------------
# PostgreSQL: a private cluster run by a non-root user, wal_level=logical

pgdata_dir() {
  if [ -n "${ORDERFLOW_PGDATA:-}" ]; then echo "$ORDERFLOW_PGDATA"; return; fi
  mkdir -p "$RUN_DIR"
  if as_pg test -x "$RUN_DIR" 2>/dev/null && as_pg test -r "$RUN_DIR" 2>/dev/null; then
    echo "$RUN_DIR/pgdata"
  else # e.g. a checkout under /root, which the postgres user cannot traverse
    echo "/var/tmp/orderflow-pgdata-$(printf '%s' "$RUN_DIR" | cksum | cut -d' ' -f1)"
  fi
}

start_postgres() {
  local pgdata pid
  pgdata="$(pgdata_dir)"
  echo "$pgdata" >"$RUN_DIR/pgdata.path"
  pid="$(service_pid postgres)"
  if [ -n "$pid" ] && probe_postgres; then return 0; fi
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    log "initialising PostgreSQL cluster in $pgdata"
    rm -rf "$pgdata"
    mkdir -p "$pgdata"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdata"
    chmod 700 "$pgdata"
    local pwfile
    pwfile="$(mktemp)"
    printf '%s\n' "$PG_PASSWORD" >"$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_pg "$PG_BIN/initdb" -D "$pgdata" -U postgres --pwfile="$pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$RUN_DIR/logs/postgres-initdb.log" 2>&1 \
      || { rm -f "$pwfile"; die "initdb failed; see $RUN_DIR/logs/postgres-initdb.log"; }
    rm -f "$pwfile"
    cat >>"$pgdata/postgresql.conf" <<EOF
# --- orderflow ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$pgdata'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
wal_writer_delay = 10ms
shared_buffers = 128MB
max_connections = 200
EOF
    echo "host replication all 127.0.0.1/32 scram-sha-256" >>"$pgdata/pg_hba.conf"
  fi
  stop_debian_default_cluster
  remove_stale_postmaster_pid "$pgdata"
  wait_port_free "$PG_PORT"
  log "starting PostgreSQL $PG_MAJOR on :$PG_PORT"
  # postgres removes a stale postmaster.pid itself when its pid is not running
  touch "$RUN_DIR/logs/postgres.log"
  [ "$(id -u)" = 0 ] && chown postgres "$RUN_DIR/logs/postgres.log"
  as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -l "$RUN_DIR/logs/postgres.log" -o "-c config_file=$pgdata/postgresql.conf" \
    -w -t "$START_TIMEOUT" start >/dev/null || die "PostgreSQL did not start; see $RUN_DIR/logs/postgres.log"
  head -1 "$pgdata/postmaster.pid" >"$(pidfile postgres)"
  wait_healthy postgres probe_postgres
  as_pg "$PG_BIN/psql" -h "$pgdata" -p "$PG_PORT" -U postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='orderflow'" | grep -q 1 \
    || as_pg "$PG_BIN/createdb" -h "$pgdata" -p "$PG_PORT" -U postgres orderflow
  as_pg "$PG_BIN/psql" -h "$pgdata" -p "$PG_PORT" -U postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='registry'" | grep -q 1 \
    || as_pg "$PG_BIN/createdb" -h "$pgdata" -p "$PG_PORT" -U postgres registry
}

alive() { # a pid that runs (a zombie, left by a kill -9 where nothing reaps it, does not)
  [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

remove_stale_postmaster_pid() { # after a kill -9, postgres may refuse to start while its old pid lingers as a zombie
  local f="$1/postmaster.pid" pid
  [ -f "$f" ] || return 0
  pid="$(head -1 "$f")"
  if ! alive "$pid"; then
    log "removing stale $f (pid $pid is gone)"
    rm -f "$f"
  fi
}

stop_postgres() {
  local pid pgdata
  pid="$(service_pid postgres)"
  [ -n "$pid" ] || return 0
  pgdata="$(cat "$RUN_DIR/pgdata.path")"
  log "stopping PostgreSQL (pid $pid)"
  as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 || stop_pid "$pid" postgres
  rm -f "$(pidfile postgres)"
}

# ---------------------------------------------------------------------------------------------
# Kafka: 1 or 3 nodes, each a KRaft broker and controller

# The broker's second listener, SASL_SSL on :$KAFKA_SASL_PORT: TLS with a self-signed certificate
# for localhost made by the JDK's keytool, and SCRAM-SHA-512 logins. The SCRAM user (orderflow)
# and its password live in the cluster's metadata; clients find what they need in
# $RUN_DIR/kafka/client-sasl.env (mode 600): brokers, CA file, username and password as the
# ORDERFLOW_KAFKA_* variables orderflow reads.
KAFKA_SASL_USER=orderflow

ensure_kafka_tls() {
  local dir="$RUN_DIR/kafka/tls" pw
  [ -f "$dir/broker.p12" ] && [ -f "$dir/ca.pem" ] && [ -f "$dir/storepass" ] && [ -f "$RUN_DIR/kafka/client-sasl.env" ] && return 0
  command -v keytool >/dev/null || die "keytool (from the JDK) is needed to make the broker's TLS certificate"
  log "making the Kafka SASL_SSL listener's certificate and SCRAM credentials"
  rm -rf "$dir"; mkdir -p "$dir"; chmod 700 "$dir"
  pw="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
  (umask 077; printf '%s' "$pw" >"$dir/storepass")
  keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 825 -dname "CN=localhost" \
    -ext "SAN=dns:localhost,ip:127.0.0.1" -storetype PKCS12 -keystore "$dir/broker.p12" \
    -storepass "$pw" -keypass "$pw" >/dev/null 2>&1 || die "keytool could not make the broker's key pair"
  keytool -exportcert -rfc -alias broker -keystore "$dir/broker.p12" -storepass "$pw" -file "$dir/ca.pem" >/dev/null 2>&1 \
    || die "keytool could not export the broker's certificate"
  local sasl="" i
  for i in $(seq 1 "$BROKER_COUNT"); do sasl="${sasl:+$sasl,}localhost:$(sasl_port "$i")"; done
  (umask 077; printf '%s\n' "ORDERFLOW_BROKERS=$sasl" "ORDERFLOW_KAFKA_CA_FILE=$dir/ca.pem" \
    "ORDERFLOW_KAFKA_SASL_MECHANISM=SCRAM-SHA-512" "ORDERFLOW_KAFKA_USERNAME=$KAFKA_SASL_USER" \
    "ORDERFLOW_KAFKA_PASSWORD=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" >"$RUN_DIR/kafka/client-sasl.env")
  rm -f "$RUN_DIR/kafka/data/.orderflow-scram-user" # the new password must reach the cluster
}

# ensure_kafka_scram_user stores the SCRAM credential of client-sasl.env in the cluster (once per
# data directory and password), through the PLAINTEXT listener.
ensure_kafka_scram_user() {
  local marker="$RUN_DIR/kafka/data/.orderflow-scram-user" pw
  [ -f "$marker" ] && return 0
  pw="$(sed -n 's/^ORDERFLOW_KAFKA_PASSWORD=//p' "$RUN_DIR/kafka/client-sasl.env")"
  java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$RUN_DIR/kafka/log4j2.properties" kafka.admin.ConfigCommand \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter --entity-type users --entity-name "$KAFKA_SASL_USER" \
    --add-config "SCRAM-SHA-512=[iterations=4096,password=$pw]" >"$RUN_DIR/logs/kafka-scram.log" 2>&1 \
    || die "creating the Kafka SCRAM user failed; see $RUN_DIR/logs/kafka-scram.log"
  touch "$marker"
}

quorum_voters() {
  local i out=""
  for i in $(seq 1 "$BROKER_COUNT"); do out="${out:+$out,}$i@127.0.0.1:$(controller_port "$i")"; done
  echo "$out"
}

write_kafka_config() { # write_kafka_config <node>
  local node=$1 dir rf isr
  dir="$(kafka_dir "$node")"
  mkdir -p "$dir/data" "$RUN_DIR/connect"
  ensure_kafka_tls
  local tls="$RUN_DIR/kafka/tls" storepass
  storepass="$(cat "$tls/storepass")"
  rf=1 isr=1
  if [ "$BROKER_COUNT" -ge 3 ]; then rf=3 isr=2; fi
  (umask 077; cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$(quorum_voters)
listeners=PLAINTEXT://127.0.0.1:$(kafka_port "$node"),CONTROLLER://127.0.0.1:$(controller_port "$node"),SASL_SSL://127.0.0.1:$(sasl_port "$node")
advertised.listeners=PLAINTEXT://localhost:$(kafka_port "$node"),SASL_SSL://localhost:$(sasl_port "$node")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$storepass
ssl.key.password=$storepass
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$rf
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
min.insync.replicas=$isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=-1
log.segment.bytes=67108864
num.network.threads=2
num.io.threads=4
EOF
  )
  cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $RUN_DIR/logs/$(kafka_service "$node")-server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

kafka_java() { # common launcher for Kafka's main classes
  java $KAFKA_HEAP "${JVM_COMMON[@]}" -Dlog4j2.configurationFile="$1" -cp "$KAFKA_LIBS/*" "${@:2}"
}

# launch_kafka_node <node>: format its storage on first start (every node with the cluster's
# one id), then start it without waiting.
launch_kafka_node() {
  local node=$1 name dir pid
  name="$(kafka_service "$node")" dir="$(kafka_dir "$node")"
  pid="$(service_pid "$name")"
  if [ -n "$pid" ] && probe_kafka "$node"; then return 0; fi
  if [ -n "$pid" ]; then # half-started by an earlier run: give it its chance, then restart it
    log "$name (pid $pid) is running but not yet healthy; waiting"
    if ! (START_TIMEOUT=60 wait_healthy "$name" "probe_kafka $node"); then stop_pid "$pid" "$name"; else return 0; fi
  fi
  write_kafka_config "$node"
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id
    if [ ! -s "$RUN_DIR/kafka/cluster-id" ]; then
      java -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1 >"$RUN_DIR/kafka/cluster-id"
    fi
    cluster_id="$(cat "$RUN_DIR/kafka/cluster-id")"
    log "formatting $name storage (cluster $cluster_id)"
    java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$dir/log4j2.properties" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$dir/server.properties" --ignore-formatted >"$RUN_DIR/logs/$name-format.log" 2>&1 \
      || die "formatting $name storage failed; see $RUN_DIR/logs/$name-format.log"
  fi
  wait_port_free "$(kafka_port "$node")"
  wait_port_free "$(sasl_port "$node")"
  wait_port_free "$(controller_port "$node")"
  log "starting Kafka $KAFKA_VERSION (KRaft node $node of $BROKER_COUNT) on :$(kafka_port "$node")"
  launch "$name" "$RUN_DIR/logs/$name.log" java $KAFKA_HEAP "${JVM_COMMON[@]}" \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dorderflow.run="$RUN_DIR" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties"
}

# start_kafka starts every node before waiting for any (a quorum of three elects its leader only
# once two run), then waits for each.
start_kafka() {
  local i
  mkdir -p "$RUN_DIR/kafka"
  echo "$BROKER_COUNT" >"$RUN_DIR/kafka/brokers"
  for i in $(seq 1 "$BROKER_COUNT"); do launch_kafka_node "$i"; done
  for i in $(seq 1 "$BROKER_COUNT"); do wait_healthy "$(kafka_service "$i")" "probe_kafka $i"; done
  ensure_kafka_scram_user
}

# ---------------------------------------------------------------------------------------------
# Kafka Connect (distributed, single worker) with Debezium on plugin.path only

# ensure_pg_roles_env makes $RUN_DIR/pg-roles.env (mode 600) once: the names and random
# passwords of the least-privilege roles that `orderflow setup --app-role --cdc-role` creates (make
# demo does). The Connect worker gets the replication role's password in its environment.
ensure_pg_roles_env() {
  [ -s "$RUN_DIR/pg-roles.env" ] && return 0
  (umask 077; printf '%s\n' "ORDERFLOW_PG_APP_ROLE=orderflow_app" \
    "ORDERFLOW_PG_APP_PASSWORD=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" \
    "ORDERFLOW_PG_CDC_ROLE=orderflow_cdc" \
    "ORDERFLOW_PG_CDC_PASSWORD=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" >"$RUN_DIR/pg-roles.env")
}

start_connect() {
  local pid
  pid="$(service_pid connect)"
  if [ -n "$pid" ] && probe_connect; then return 0; fi
  if [ -n "$pid" ]; then
    log "Connect (pid $pid) is running but not yet healthy; waiting"
    if ! (START_TIMEOUT=90 wait_healthy connect probe_connect); then stop_pid "$pid" connect; else return 0; fi
  fi
  mkdir -p "$RUN_DIR/connect/secrets"
  chmod 700 "$RUN_DIR/connect/secrets"
  local connect_rf=1
  if [ "$BROKER_COUNT" -ge 3 ]; then connect_rf=3; fi
  cat >"$RUN_DIR/connect/worker.properties" <<EOF
bootstrap.servers=$(bootstrap_list)
group.id=orderflow-connect
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
config.storage.topic=_connect-configs
offset.storage.topic=_connect-offsets
status.storage.topic=_connect-status
config.storage.replication.factor=$connect_rf
offset.storage.replication.factor=$connect_rf
status.storage.replication.factor=$connect_rf
offset.storage.partitions=1
status.storage.partitions=1
offset.flush.interval.ms=1000
# A worker that dropped out of the group (its broker paused, or the coordinator moved) gets its
# connectors back after 10 s, not Connect's default 5 minutes (scheduled.rebalance.max.delay.ms):
# with one worker, nobody else takes them over meanwhile, and the outbox stops flowing.
scheduled.rebalance.max.delay.ms=10000
listeners=http://127.0.0.1:$CONNECT_PORT
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$CONNECT_PORT
plugin.path=$PLUGIN_PATH
plugin.discovery=hybrid_warn
topic.creation.enable=true
# Connector configs carry references, never secrets: \${env:ORDERFLOW_PG_CDC_PASSWORD} (the
# replication role's) or \${env:ORDERFLOW_PG_PASSWORD} (the local superuser's, for tests), the only
# variables the env provider resolves, or \${dir:<secrets dir>:<file>} (one file per secret, e.g. a
# replication role's password; no directory but that one can be read).
config.providers=env,dir
config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider
config.providers.env.param.allowlist.pattern=^ORDERFLOW_PG_(CDC_)?PASSWORD\$
config.providers.dir.class=org.apache.kafka.common.config.provider.DirectoryConfigProvider
config.providers.dir.param.allowed.paths=$RUN_DIR/connect/secrets
EOF
  cat >"$RUN_DIR/connect/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $RUN_DIR/logs/connect-worker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %X{connector.context}%m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
EOF
  wait_port_free "$CONNECT_PORT"
  log "starting Kafka Connect $KAFKA_VERSION with Debezium $DEBEZIUM_VERSION on :$CONNECT_PORT"
  ensure_pg_roles_env
  launch connect "$RUN_DIR/logs/connect.log" env ORDERFLOW_PG_PASSWORD="$PG_PASSWORD" \
    ORDERFLOW_PG_CDC_PASSWORD="$(sed -n 's/^ORDERFLOW_PG_CDC_PASSWORD=//p' "$RUN_DIR/pg-roles.env")" java $CONNECT_HEAP "${JVM_COMMON[@]}" \
    -Dlog4j2.configurationFile="$RUN_DIR/connect/log4j2.properties" -Dorderflow.run="$RUN_DIR" \
    -cp "$KAFKA_LIBS/*" org.apache.kafka.connect.cli.ConnectDistributed "$RUN_DIR/connect/worker.properties"
  wait_healthy connect probe_connect
}

# ---------------------------------------------------------------------------------------------
# Apicurio Registry (Confluent-compatible API at /apis/ccompat/v7), stored in PostgreSQL

java_major() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p'; }

registry_java() { # Apicurio 3.3 is compiled for Java 21: find a JDK >= 21 (Kafka stays on the default 17)
  local j
  for j in "${ORDERFLOW_REGISTRY_JAVA:-}" "${JAVA21_HOME:+$JAVA21_HOME/bin/java}" \
    /usr/lib/jvm/temurin-25-jdk-amd64/bin/java /usr/lib/jvm/temurin-21-jdk-amd64/bin/java \
    /usr/lib/jvm/*/bin/java "$(command -v java)"; do
    [ -n "$j" ] && [ -x "$j" ] || continue
    if [ "$(java_major "$j")" -ge 21 ] 2>/dev/null; then echo "$j"; return 0; fi
  done
  die "Apicurio Registry $APICURIO_VERSION needs Java 21 or newer; none found under /usr/lib/jvm. Install one (e.g. Temurin 21/25) and set ORDERFLOW_REGISTRY_JAVA=/path/to/bin/java"
}

start_registry() {
  local pid
  pid="$(service_pid registry)"
  if [ -n "$pid" ] && probe_registry; then return 0; fi
  if [ -n "$pid" ]; then
    log "registry (pid $pid) is running but not yet healthy; waiting"
    if ! (START_TIMEOUT=60 wait_healthy registry probe_registry); then stop_pid "$pid" registry; else return 0; fi
  fi
  wait_port_free "$REGISTRY_PORT"
  wait_port_free "$REGISTRY_MGMT_PORT"
  mkdir -p "$RUN_DIR/registry"
  local java_bin
  java_bin="$(registry_java)"
  log "starting Apicurio Registry $APICURIO_VERSION on :$REGISTRY_PORT"
  launch registry "$RUN_DIR/logs/registry.log" env -C "$RUN_DIR/registry" \
    APICURIO_DATASOURCE_PASSWORD="$PG_PASSWORD" \
    "$java_bin" $REGISTRY_HEAP "${JVM_COMMON[@]}" -Dorderflow.run="$RUN_DIR" \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port=$REGISTRY_PORT \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=$REGISTRY_MGMT_PORT \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=postgresql \
    -Dapicurio.datasource.url="jdbc:postgresql://127.0.0.1:$PG_PORT/registry" \
    -Dapicurio.datasource.username=postgres \
    -Dapicurio.datasource.jdbc.initial-size=2 -Dapicurio.datasource.jdbc.min-size=2 \
    -Dapicurio.datasource.jdbc.max-size=10 \
    -Dapicurio.storage.snapshot.location="$RUN_DIR/registry" -Dapicurio.import.work-dir="$RUN_DIR/registry" \
    -Dquarkus.otel.enabled=false -Dquarkus.otel.sdk.disabled=true \
    -jar "$APICURIO_HOME/quarkus-run.jar"
  wait_healthy registry probe_registry
}

# ---------------------------------------------------------------------------------------------

stop_service() {
  local name=$1 pid
  pid="$(service_pid "$name")"
  [ -n "$pid" ] || return 0
  log "stopping $name (pid $pid)"
  stop_pid "$pid" "$name"
  rm -f "$(pidfile "$name")"
}

cmd_up() {
  local t0=$SECONDS
  ensure_os_packages
  fetch
  mkdir -p "$RUN_DIR/pids" "$RUN_DIR/logs"
  [ "$(id -u)" = 0 ] && chown postgres "$RUN_DIR/logs" 2>/dev/null || true
  [ -x "$ORDERFLOW_BIN" ] || die "orderflow binary not found at $ORDERFLOW_BIN (run: make build)"
  start_postgres
  start_kafka
  start_connect
  start_registry
  log "stack is up in $((SECONDS - t0))s with $BROKER_COUNT Kafka broker(s): ORDERFLOW_BROKERS=$(bootstrap_list) (logs in $RUN_DIR/logs)"
}

# stop_kafka stops every node there may be, whatever the count, all at once: a node left alone
# without its quorum cannot finish a controlled shutdown (it waited 45 s, then was killed).
stop_kafka() {
  local name pid pids=()
  for name in kafka-3 kafka-2 kafka; do
    pid="$(service_pid "$name")"
    [ -n "$pid" ] || continue
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$name:$pid")
  done
  for name in "${pids[@]}"; do
    stop_pid "${name#*:}" "${name%%:*}"
    rm -f "$(pidfile "${name%%:*}")"
  done
}

cmd_down() {
  stop_service registry
  stop_service connect
  stop_kafka
  stop_postgres
  log "stack is down (data kept in $RUN_DIR)"
}

# One service, for failure drills (the chaos run): start waits until it is healthy.
cmd_service() {
  local action=$1 name=${2:-} node=""
  case "$name" in
    postgres|connect|registry) ;;
    kafka) node=1 ;;
    kafka-2|kafka-3) node=${name#kafka-}; [ "$node" -le "$BROKER_COUNT" ] || die "no $name: the cluster has $BROKER_COUNT broker(s)" ;;
    *) die "unknown service '$name' (postgres, kafka, kafka-2, kafka-3, connect, registry)" ;;
  esac
  if [ "$action" = stop ] || [ "$action" = restart ]; then
    if [ "$name" = postgres ]; then stop_postgres; else stop_service "$name"; fi
  fi
  if [ "$action" = start ] || [ "$action" = restart ]; then
    mkdir -p "$RUN_DIR/pids" "$RUN_DIR/logs"
    case "$name" in
      postgres) start_postgres ;;
      connect) start_connect ;;
      registry) start_registry ;;
      *) launch_kafka_node "$node"; wait_healthy "$name" "probe_kafka $node" ;;
    esac
  fi
}

cmd_status() {
  local rc=0 name port probe pid health
  printf '%-10s %-8s %-6s %s\n' SERVICE PID PORT HEALTH
  local rows=("postgres $PG_PORT probe_postgres") i
  for i in $(seq 1 "$BROKER_COUNT"); do rows+=("$(kafka_service "$i") $(kafka_port "$i") probe_kafka:$i"); done
  rows+=("connect $CONNECT_PORT probe_connect" "registry $REGISTRY_PORT probe_registry")
  for row in "${rows[@]}"; do
    read -r name port probe <<<"$row"
    probe="${probe/:/ }"
    pid="$(service_pid "$name")"
    if [ -z "$pid" ]; then health=stopped; rc=1
    elif $probe; then health=healthy
    else health=unhealthy; rc=1
    fi
    printf '%-10s %-8s %-6s %s\n' "$name" "${pid:--}" "$port" "$health"
  done
  echo "run directory: $RUN_DIR   logs: $RUN_DIR/logs"
  return $rc
}

cmd_clean() {
  cmd_down
  local pgdata=""
  [ -f "$RUN_DIR/pgdata.path" ] && pgdata="$(cat "$RUN_DIR/pgdata.path")"
  [ -n "$pgdata" ] && [ -d "$pgdata" ] && rm -rf "$pgdata"
  rm -rf "$RUN_DIR"
  log "removed $RUN_DIR${pgdata:+ and $pgdata}"
}

ORDERFLOW_BIN="${ORDERFLOW_BIN:-$REPO/bin/orderflow}"

case "${1:-}" in
  down|clean|fetch) BROKER_COUNT=1 ;; # down and clean stop every node there is
  *) BROKER_COUNT="$(broker_count)" ;;
esac

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  fetch) ensure_os_packages; fetch ;;
  brokers) bootstrap_list ;;
  start|stop|restart) cmd_service "$1" "${2:-}" ;;
  *) echo "usage: $0 up|down|status|clean|fetch|brokers|start|stop|restart <service>" >&2; exit 2 ;;
esac
