#!/usr/bin/env bash
# Apache Kafka as a benchmark peer, from its Maven Central jars (tools/kafka/pom.xml), run on a
# plain java class path: no distribution tarball, no Kafka scripts.
#
#   scripts/kafka-peer.sh env      resolve the jars if needed; print KAFKA_VERSION, KAFKA_LIB,
#                                  KAFKA_LOG4J, JAVA as KEY=VALUE lines (for bench/broker.ts)
#   scripts/kafka-peer.sh start [--dir DIR] [--port N] [--controller-port N] [--heap SIZE]
#                               [--node-id N --voters ID@HOST:PORT,... --cluster-id ID]
#                                  format and run a KRaft node (broker+controller) on 127.0.0.1
#                                  until SIGTERM/SIGINT; prints "kafka-peer: Kafka <version> on
#                                  127.0.0.1:<port> ..." when ready. Alone: a single-node cluster
#                                  (node.id 1). With --node-id, --voters (every node's controller
#                                  address) and --cluster-id (the same for all): one node of a
#                                  multi-node cluster; start them all together (each waits for the
#                                  quorum). Without --dir a temp dir is used and deleted on exit;
#                                  free ports are picked when not given.
#   scripts/kafka-peer.sh cluster-id
#                                  print a new cluster id for --cluster-id.
#   scripts/kafka-peer.sh run CLASS [ARGS...]
#                                  run a class from the jars, e.g.
#                                  org.apache.kafka.tools.ProducerPerformance --help
#
# Jars go to ${BULWARK_CACHE:-$HOME/.cache/bulwark}/kafka/<version>/lib (outside the repository),
# resolved once with Maven (~45 MB on the first run; Maven's own repository is ~/.m2 as usual).
# KAFKA_VERSION overrides the version in the pom; JAVA (or JAVA_HOME) picks the java binary
# (Java 17 or newer: Kafka 4.x brokers need it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/tools/kafka/pom.xml"
KAFKA_VERSION="${KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -1)}"
CACHE="${BULWARK_CACHE:-$HOME/.cache/bulwark}/kafka/$KAFKA_VERSION"
LIB="$CACHE/lib"
LOG4J="$CACHE/log4j2.properties"
if [[ -n "${JAVA:-}" ]]; then :; elif [[ -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi

say() { echo "kafka-peer: $*" >&2; }
die() { say "error: $*"; exit 1; }

check_java() {
  command -v "$JAVA" >/dev/null || die "java not found (set JAVA or JAVA_HOME; Java 17+ needed)"
  local v major
  v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -1)"
  major="${v%%.*}"
  [[ "$major" == 1 ]] && major="$(echo "$v" | cut -d. -f2)"
  [[ "$major" =~ ^[0-9]+$ && "$major" -ge 17 ]] || die "Java 17 or newer needed, found '${v:-unknown}' ($JAVA)"
}

# Resolve the jars into $LIB once (a marker file says the copy finished).
ensure_jars() {
  if [[ -f "$LIB/.complete" ]]; then return; fi
  command -v mvn >/dev/null || die "mvn not found: Maven resolves the Kafka jars from Maven Central"
  say "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $LIB (first run only, ~45 MB)…"
  mkdir -p "$CACHE"
  local tmp="$CACHE/lib.partial.$$" n=0 line status
  rm -rf "$tmp"
  # Not -q: Maven's "Downloaded from" lines are the progress shown.
  set +e
  mvn -B -f "$POM" -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1 |
    while IFS= read -r line; do
      case "$line" in
        *"Downloaded from"*.jar" "*)
          n=$((n + 1))
          say "  [$n] $(echo "$line" | sed -E 's|.*/([^/ ]+) \((.*)\).*|\1 (\2)|')" ;;
        *ERROR*) echo "$line" >&2 ;;
      esac
    done
  status=${PIPESTATUS[0]}
  set -e
  [[ "$status" == 0 ]] || { rm -rf "$tmp"; die "Maven failed (exit $status)"; }
  ls "$tmp"/kafka_2.13-*.jar "$tmp"/kafka-tools-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "Maven copied no Kafka jars into $tmp"; }
  rm -rf "$LIB"
  mv "$tmp" "$LIB"
  touch "$LIB/.complete"
  say "jars ready: $(ls "$LIB" | wc -l) files, $(du -sh "$LIB" | cut -f1)"
}

write_log4j() {
  mkdir -p "$CACHE"
  cat >"$LOG4J.$$" <<'EOF'
# Warnings and errors only, plus the broker's "Kafka Server started" line (kafka-peer.sh waits for it).
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
EOF
  mv "$LOG4J.$$" "$LOG4J"
}

free_port() {
  node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

cmd_start() {
  local dir="" port="" cport="" heap="1g" own_dir=0 node_id=1 voters="" cluster_id=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --node-id) node_id="$2"; shift 2 ;;
      --voters) voters="$2"; shift 2 ;;
      --cluster-id) cluster_id="$2"; shift 2 ;;
      --dir) dir="$2"; shift 2 ;;
      --port) port="$2"; shift 2 ;;
      --controller-port) cport="$2"; shift 2 ;;
      --heap) heap="$2"; shift 2 ;;
      *) die "start: unknown option $1" ;;
    esac
  done
  [[ -n "$port" ]] || port="$(free_port)"
  [[ -n "$cport" ]] || cport="$(free_port)"
  [[ "$port" != "$cport" ]] || die "start: broker and controller ports must differ"
  [[ "$node_id" =~ ^[0-9]+$ ]] || die "start: --node-id must be a number"
  [[ -n "$voters" ]] || voters="$node_id@127.0.0.1:$cport"
  [[ "$voters" == *"$node_id@127.0.0.1:$cport"* ]] || die "start: --voters must list this node as $node_id@127.0.0.1:$cport"
  local nodes
  nodes="$(echo "$voters" | tr ',' '\n' | wc -l)"
  local rf=1
  [[ "$nodes" -ge 3 ]] && rf=3
  if [[ -z "$dir" ]]; then dir="$(mktemp -d "${TMPDIR:-/tmp}/bulwark-kafka-peer-XXXXXX")"; own_dir=1; fi
  mkdir -p "$dir/data"
  local cp="$LIB/*" props="$dir/server.properties" log="$dir/kafka.log" pid=""

  # Stop the broker on any exit: SIGTERM (controlled shutdown), SIGKILL after 20 s.
  cleanup() {
    trap - EXIT INT TERM
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && { say "broker did not stop in 20 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
      wait "$pid" 2>/dev/null || true
    fi
    if [[ "$own_dir" == 1 ]]; then rm -rf "$dir"; fi
  }
  trap cleanup EXIT
  trap 'exit 0' INT TERM

  # KRaft, combined mode, a static voter set (controller.quorum.voters): `format -t ID` is enough
  # (a dynamic quorum would need controller.quorum.bootstrap.servers + format --standalone).
  # Internal topics (offsets, transactions) are replicated 3 ways when the cluster has 3 nodes.
  # Durability is Kafka's default: no log.flush.interval.* set, so flush.messages = Long.MAX_VALUE
  # (the page cache; fsync only on segment roll and shutdown).
  cat >"$props" <<EOF
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=${KAFKA_OFFSETS_TOPIC_PARTITIONS:-1}
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=${KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS:-0}
EOF
  local id="$cluster_id"
  [[ -n "$id" ]] || id="$("$JAVA" -Dlog4j2.configurationFile="$LOG4J" -cp "$cp" kafka.tools.StorageTool random-uuid 2>>"$log" | tail -1)"
  [[ -n "$id" ]] || { cat "$log" >&2; die "StorageTool random-uuid failed"; }
  "$JAVA" -Dlog4j2.configurationFile="$LOG4J" -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$props" >>"$log" 2>&1 ||
    { tail -20 "$log" >&2; die "StorageTool format failed"; }

  # The heap and GC flags kafka-server-start.sh uses by default (1 GiB heap, G1, 20 ms pauses).
  "$JAVA" -Xms"$heap" -Xmx"$heap" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J" \
    -cp "$cp" kafka.Kafka "$props" >>"$log" 2>&1 &
  pid=$!
  local waited=0
  until grep -q "Kafka Server started" "$log" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { tail -30 "$log" >&2; die "broker exited during start-up"; }
    [[ "$waited" -lt 1200 ]] || { tail -30 "$log" >&2; die "broker not started after 120 s"; }
    sleep 0.1
    waited=$((waited + 1))
  done
  echo "kafka-peer: Kafka $KAFKA_VERSION on 127.0.0.1:$port (node $node_id, controller 127.0.0.1:$cport, cluster $id), data in $dir/data, log $log, pid $pid"
  wait "$pid" || true
}

case "${1:-}" in
  env)
    check_java
    ensure_jars
    write_log4j
    echo "KAFKA_VERSION=$KAFKA_VERSION"
    echo "KAFKA_LIB=$LIB"
    echo "KAFKA_LOG4J=$LOG4J"
    echo "JAVA=$(command -v "$JAVA")"
    ;;
  start)
    shift
    check_java
    ensure_jars
    write_log4j
    cmd_start "$@"
    ;;
  cluster-id)
    check_java
    ensure_jars
    write_log4j
    "$JAVA" -Dlog4j2.configurationFile="$LOG4J" -cp "$LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1
    ;;
  run)
    shift
    [[ $# -ge 1 ]] || die "run: a class name is needed"
    check_java
    ensure_jars
    write_log4j
    exec "$JAVA" -Xmx512m -Dlog4j2.configurationFile="$LOG4J" -cp "$LIB/*" "$@"
    ;;
  *)
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
