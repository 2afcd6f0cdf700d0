#!/usr/bin/env bash
# Build, start, stop and query the HAPI FHIR R4 test server of hapi/ (see hapi/README.md).
#
#   scripts/hapi.sh build     build hapi/target/hapi-fhir-fixture.jar (skipped when newer than the sources)
#   scripts/hapi.sh start     build if needed, start in the background, wait until GET /fhir/metadata is 200
#   scripts/hapi.sh stop      stop the server started by `start` (succeeds when none is running)
#   scripts/hapi.sh restart   stop, then start
#   scripts/hapi.sh status    exit 0 if running and answering, 1 if running but not answering, 3 if not running
#   scripts/hapi.sh log       print the last lines of the server log
#
# Environment:
#   HAPI_PORT            port on 127.0.0.1 (default 8090); base URL http://127.0.0.1:$HAPI_PORT/fhir
#   HAPI_START_TIMEOUT   seconds to wait for /fhir/metadata (default 300)
#   HAPI_STOP_TIMEOUT    seconds to wait for exit after SIGTERM before SIGKILL (default 60)
#   HAPI_JAVA_OPTS       JVM options (default "-Xmx1536m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
#                        -XX:+ExitOnOutOfMemoryError": on 2 cores the C1-only JIT and serial GC start
#                        faster, use less memory and ran this fixture's workloads faster than the defaults)
#   HAPI_DB_URL          JDBC URL (default in-memory H2; e.g. jdbc:h2:file:/abs/path/hapi-db to keep data)
#   HAPI_ARGS            extra Spring Boot arguments, e.g. "--fixture.max-page-size=500"
# Pid file and log: hapi/run/hapi-$HAPI_PORT.pid and hapi/run/hapi-$HAPI_PORT.log, so servers on
# different ports can run side by side.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HAPI_DIR="$ROOT_DIR/hapi"
JAR="$HAPI_DIR/target/hapi-fhir-fixture.jar"
RUN_DIR="$HAPI_DIR/run"
PORT="${HAPI_PORT:-8090}"
PID_FILE="$RUN_DIR/hapi-$PORT.pid"
LOG_FILE="$RUN_DIR/hapi-$PORT.log"
BASE_URL="http://127.0.0.1:$PORT/fhir"
START_TIMEOUT="${HAPI_START_TIMEOUT:-300}"
STOP_TIMEOUT="${HAPI_STOP_TIMEOUT:-60}"
JAVA_OPTS="${HAPI_JAVA_OPTS:--Xmx1536m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError}"

log() { printf 'hapi: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

require_java() {
	command -v java >/dev/null 2>&1 || die "'java' not found on PATH; install a Java 17+ JDK (Debian: apt-get install -y openjdk-17-jdk-headless)"
	local version major
	version="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
	major="${version%%.*}"
	if [[ "$major" == 1 ]]; then major="$(echo "$version" | cut -d. -f2)"; fi
	[[ "$major" =~ ^[0-9]+$ ]] || die "cannot read the Java version from 'java -version' (got '$version')"
	((major >= 17)) || die "Java 17 or newer is needed; 'java' is version $version"
}

require_maven() {
	command -v mvn >/dev/null 2>&1 || die "'mvn' not found on PATH; install Maven 3.8+ (Debian: apt-get install -y maven)"
}

# HTTP status code of GET $1 (path on 127.0.0.1:$PORT), or 000 when nothing answers.
http_status() {
	local path="$1"
	if command -v curl >/dev/null 2>&1; then
		curl -s -o /dev/null -m 30 -w '%{http_code}' "http://127.0.0.1:$PORT$path" 2>/dev/null || true
		return 0
	fi
	# Fallback without curl: bash's /dev/tcp.
	local line=""
	if exec 3<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nAccept: application/fhir+json\r\n\r\n' "$path" "$PORT" >&3
		IFS= read -r -t 30 line <&3 || true
		exec 3<&- 3>&-
	fi
	line="${line#HTTP/* }"
	line="${line%% *}"
	[[ "$line" =~ ^[0-9]{3}$ ]] && printf '%s' "$line" || printf '000'
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

# Pid from the pid file if that process is alive and is our server; empty otherwise.
running_pid() {
	[[ -f "$PID_FILE" ]] || return 0
	local pid
	pid="$(tr -dc '0-9' <"$PID_FILE")"
	[[ -n "$pid" ]] || return 0
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'hapi-fhir-fixture'; then
		printf '%s' "$pid"
	fi
}

jar_is_current() {
	[[ -f "$JAR" ]] || return 1
	[[ -z "$(find "$HAPI_DIR/pom.xml" "$HAPI_DIR/src" -type f -newer "$JAR" -print -quit)" ]]
}

cmd_build() {
	if jar_is_current; then
		log "jar is up to date: ${JAR#"$ROOT_DIR"/}"
		return 0
	fi
	require_maven
	require_java
	log "building ${JAR#"$ROOT_DIR"/} (the first build downloads ~300 MB of dependencies from Maven Central)"
	local started=$SECONDS
	mkdir -p "$RUN_DIR"
	if ! mvn -B -Dstyle.color=never -f "$HAPI_DIR/pom.xml" package -DskipTests >"$RUN_DIR/build.log" 2>&1; then
		tail -n 40 "$RUN_DIR/build.log" >&2
		die "maven build failed; full output in ${RUN_DIR#"$ROOT_DIR"/}/build.log"
	fi
	[[ -f "$JAR" ]] || die "maven finished but $JAR is missing"
	touch "$JAR" # mark it newer than the sources it was built from
	log "built in $((SECONDS - started)) s"
}

print_log_tail() {
	if [[ -f "$LOG_FILE" ]]; then
		log "last 60 lines of ${LOG_FILE#"$ROOT_DIR"/}:"
		tail -n 60 "$LOG_FILE" >&2
	fi
}

cmd_start() {
	local pid
	pid="$(running_pid)"
	if [[ -n "$pid" ]]; then
		if [[ "$(http_status /fhir/metadata)" == 200 ]]; then
			log "already running (pid $pid) at $BASE_URL"
			return 0
		fi
		die "a server (pid $pid) is running but $BASE_URL/metadata does not answer 200; run '$0 stop' first"
	fi
	rm -f "$PID_FILE"
	if port_in_use; then
		die "port $PORT on 127.0.0.1 is already in use by another process; set HAPI_PORT to a free port"
	fi

	cmd_build
	require_java
	mkdir -p "$RUN_DIR"
	: >"$LOG_FILE"

	# Run from a copy, so that rebuilding target/ while this server runs cannot pull classes from under it.
	local run_jar="$RUN_DIR/hapi-fhir-fixture-$PORT.jar"
	cp -f "$JAR" "$run_jar"

	local -a java_opts extra_args
	read -r -a java_opts <<<"$JAVA_OPTS"
	read -r -a extra_args <<<"${HAPI_ARGS:-}"
	log "starting on $BASE_URL (log: ${LOG_FILE#"$ROOT_DIR"/})"
	local started=$SECONDS
	# A session of its own, so that the server outlives this script and its process group.
	# The inner shell writes its own pid and then becomes java (exec), so the pid file holds java's pid.
	# shellcheck disable=SC2016 # expanded by the inner shell
	local launcher=(bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE"
		java "${java_opts[@]}" -jar "$run_jar" "--server.port=$PORT" "${extra_args[@]}")
	if command -v setsid >/dev/null 2>&1; then
		nohup setsid "${launcher[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
	else
		nohup "${launcher[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
	fi

	local waited=0
	while [[ ! -s "$PID_FILE" ]] && ((waited < 50)); do sleep 0.1; waited=$((waited + 1)); done
	pid="$(tr -dc '0-9' <"$PID_FILE" 2>/dev/null || true)"
	[[ -n "$pid" ]] || { print_log_tail; die "the server process did not start"; }

	while true; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$PID_FILE"
			print_log_tail
			die "the server exited during start-up (after $((SECONDS - started)) s)"
		fi
		if [[ "$(http_status /fhir/metadata)" == 200 ]]; then
			log "up at $BASE_URL (pid $pid) after $((SECONDS - started)) s"
			return 0
		fi
		if ((SECONDS - started >= START_TIMEOUT)); then
			print_log_tail
			log "no 200 from $BASE_URL/metadata within $START_TIMEOUT s; stopping pid $pid"
			cmd_stop || true
			exit 1
		fi
		sleep 1
	done
}

cmd_stop() {
	local pid
	pid="$(running_pid)"
	if [[ -z "$pid" ]]; then
		rm -f "$PID_FILE"
		log "not running (port $PORT)"
		return 0
	fi
	log "stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	local started=$SECONDS
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS - started >= STOP_TIMEOUT)); then
			log "pid $pid still running after $STOP_TIMEOUT s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 1
			break
		fi
		sleep 0.5
	done
	rm -f "$PID_FILE" "$RUN_DIR/hapi-fhir-fixture-$PORT.jar"
	log "stopped after $((SECONDS - started)) s"
}

cmd_status() {
	local pid code rss hwm
	pid="$(running_pid)"
	if [[ -z "$pid" ]]; then
		echo "not running (port $PORT)"
		return 3
	fi
	code="$(http_status /fhir/metadata)"
	rss="$(awk '/^VmRSS:/ {printf "%d MiB", $2/1024}' "/proc/$pid/status" 2>/dev/null || true)"
	hwm="$(awk '/^VmHWM:/ {printf "%d MiB", $2/1024}' "/proc/$pid/status" 2>/dev/null || true)"
	echo "running: pid $pid, $BASE_URL, GET /fhir/metadata -> $code, RSS ${rss:-?} (peak ${hwm:-?})"
	[[ "$code" == 200 ]] && return 0 || return 1
}

cmd_log() {
	[[ -f "$LOG_FILE" ]] || die "no log at $LOG_FILE"
	tail -n "${1:-100}" "$LOG_FILE"
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
build) cmd_build ;;
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_stop && cmd_start ;;
status) cmd_status ;;
log | logs) shift; cmd_log "$@" ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
