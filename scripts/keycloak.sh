#!/usr/bin/env bash
# Fetch, start, stop and query the Keycloak server that tests/extractor/test_keycloak.py registers our
# SMART client in (the recipe in docs/extraction.md, "Registering the client in Keycloak").
#
#   scripts/keycloak.sh install   fetch org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip with Maven
#                                 (into the local Maven repository) and unpack it under keycloak/
#   scripts/keycloak.sh start     install if needed, start `kc.sh start-dev` in the background on 127.0.0.1
#                                 with a fresh database and a new random admin password, wait until ready
#   scripts/keycloak.sh stop      stop the server started by `start` (succeeds when none is running)
#   scripts/keycloak.sh restart   stop, then start
#   scripts/keycloak.sh status    exit 0 if running and answering, 1 if running but not answering, 3 if not running
#   scripts/keycloak.sh log       print the last lines of the server log
#
# Environment:
#   KEYCLOAK_VERSION          Keycloak release (default 25.0.6)
#   KEYCLOAK_PORT             HTTP port on 127.0.0.1 (default 8180); base URL http://127.0.0.1:$KEYCLOAK_PORT
#   KEYCLOAK_MANAGEMENT_PORT  port of Keycloak's management interface, also on 127.0.0.1 (default
#                             KEYCLOAK_PORT + 1000, i.e. 9180; Keycloak's own default, 9000, is often taken)
#   KEYCLOAK_START_TIMEOUT    seconds to wait until the server answers (default 300)
#   KEYCLOAK_STOP_TIMEOUT     seconds to wait for exit after SIGTERM before SIGKILL (default 60)
#   KEYCLOAK_JAVA_OPTS_APPEND JVM options added to kc.sh's defaults (default "-XX:TieredStopAtLevel=1": the
#                             C1-only JIT starts faster on 2 cores)
# The server listens only on 127.0.0.1. Its admin user is "admin" with a random password written to
# keycloak/run/admin-password (mode 0600) at each start; the tests read it from there (or from
# KEYCLOAK_ADMIN_PASSWORD when that is set). The dev-file database lives in keycloak/run/db and is deleted at
# each start, so every start is a clean Keycloak. Pid file and log: keycloak/run/keycloak.pid and
# keycloak/run/keycloak.log (one server per checkout at a time).
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KC_ROOT="$ROOT_DIR/keycloak"
VERSION="${KEYCLOAK_VERSION:-25.0.6}"
HOME_DIR="$KC_ROOT/keycloak-$VERSION"
RUN_DIR="$KC_ROOT/run"
PORT="${KEYCLOAK_PORT:-8180}"
MANAGEMENT_PORT="${KEYCLOAK_MANAGEMENT_PORT:-$((PORT + 1000))}"
PID_FILE="$RUN_DIR/keycloak.pid"
PORT_FILE="$RUN_DIR/keycloak.port"
LOG_FILE="$RUN_DIR/keycloak.log"
PASSWORD_FILE="$RUN_DIR/admin-password"
DB_DIR="$RUN_DIR/db"
BASE_URL="http://127.0.0.1:$PORT"
READY_PATH="/realms/master/.well-known/openid-configuration"
START_TIMEOUT="${KEYCLOAK_START_TIMEOUT:-300}"
STOP_TIMEOUT="${KEYCLOAK_STOP_TIMEOUT:-60}"
JAVA_OPTS_APPEND_DEFAULT="${KEYCLOAK_JAVA_OPTS_APPEND:--XX:TieredStopAtLevel=1}"
ARTIFACT="org.keycloak:keycloak-quarkus-dist:$VERSION:zip"

log() { printf 'keycloak: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

require_java() {
	command -v java >/dev/null 2>&1 || die "'java' not found on PATH; install a Java 17+ JDK (Debian: apt-get install -y openjdk-17-jdk-headless)"
	local version major
	version="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
	major="${version%%.*}"
	if [[ "$major" == 1 ]]; then major="$(echo "$version" | cut -d. -f2)"; fi
	[[ "$major" =~ ^[0-9]+$ ]] || die "cannot read the Java version from 'java -version' (got '$version')"
	((major >= 17)) || die "Keycloak $VERSION needs Java 17 or newer; 'java' is version $version"
}

require_maven() {
	command -v mvn >/dev/null 2>&1 || die "'mvn' not found on PATH; install Maven 3.8+ (Debian: apt-get install -y maven)"
}

# unzip $1 into $2, keeping the executable bits (unzip if installed, else Python's zipfile)
extract() {
	if command -v unzip >/dev/null 2>&1; then
		unzip -q "$1" -d "$2"
		return
	fi
	local python
	python="$(command -v python3 || true)"
	[[ -n "$python" ]] || die "neither 'unzip' nor 'python3' found on PATH (Debian: apt-get install -y unzip)"
	"$python" - "$1" "$2" <<-'PY'
		import os, sys, zipfile
		with zipfile.ZipFile(sys.argv[1]) as archive:
		    for member in archive.infolist():
		        path = archive.extract(member, sys.argv[2])
		        mode = (member.external_attr >> 16) & 0o777
		        if mode and not member.is_dir():
		            os.chmod(path, mode)
	PY
}

# HTTP status code of GET $1 (a path on 127.0.0.1:$PORT), or 000 when nothing answers.
http_status() {
	local path="$1" line=""
	if command -v curl >/dev/null 2>&1; then
		curl -s -o /dev/null -m 10 -w '%{http_code}' "$BASE_URL$path" 2>/dev/null || true
		return 0
	fi
	if exec 3<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$path" "$PORT" >&3
		IFS= read -r -t 10 line <&3 || true
		exec 3<&- 3>&-
	fi
	line="${line#HTTP/* }"
	line="${line%% *}"
	[[ "$line" =~ ^[0-9]{3}$ ]] && printf '%s' "$line" || printf '000'
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Pid from the pid file if that process is alive and is a Keycloak of this checkout; empty otherwise.
running_pid() {
	[[ -f "$PID_FILE" ]] || return 0
	local pid
	pid="$(tr -dc '0-9' <"$PID_FILE")"
	[[ -n "$pid" ]] || return 0
	if kill -0 "$pid" 2>/dev/null && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$KC_ROOT/"; then
		printf '%s' "$pid"
	fi
}

cmd_install() {
	if [[ -x "$HOME_DIR/bin/kc.sh" && -f "$HOME_DIR/version.txt" ]]; then
		log "Keycloak $VERSION is installed in ${HOME_DIR#"$ROOT_DIR"/}"
		return 0
	fi
	require_maven
	mkdir -p "$RUN_DIR"
	local download="$KC_ROOT/download" started=$SECONDS
	log "fetching $ARTIFACT with Maven (~146 MB from Maven Central the first time, then from the local repository)"
	rm -rf "$download"
	if ! mvn -B -C -Dstyle.color=never dependency:copy "-Dartifact=$ARTIFACT" "-DoutputDirectory=$download" \
		>"$RUN_DIR/install.log" 2>&1; then
		tail -n 30 "$RUN_DIR/install.log" >&2
		die "maven could not fetch $ARTIFACT; full output in ${RUN_DIR#"$ROOT_DIR"/}/install.log"
	fi
	local zip="$download/keycloak-quarkus-dist-$VERSION.zip"
	[[ -f "$zip" ]] || die "maven finished but $zip is missing"
	local staging="$KC_ROOT/.unpack-$$"
	rm -rf "$staging"
	mkdir -p "$staging"
	extract "$zip" "$staging" || die "could not unpack $zip"
	[[ -x "$staging/keycloak-$VERSION/bin/kc.sh" ]] || die "$zip does not contain keycloak-$VERSION/bin/kc.sh"
	rm -rf "$HOME_DIR"
	mv "$staging/keycloak-$VERSION" "$HOME_DIR"
	rm -rf "$staging" "$download"
	log "installed Keycloak $VERSION in ${HOME_DIR#"$ROOT_DIR"/} after $((SECONDS - started)) s"
}

# stop and status act on the server that runs, whatever KEYCLOAK_PORT says now.
use_running_port() {
	local running_port
	running_port="$(tr -dc '0-9' <"$PORT_FILE" 2>/dev/null || true)"
	if [[ -n "$running_port" ]]; then
		PORT="$running_port"
		BASE_URL="http://127.0.0.1:$PORT"
	fi
}

print_log_tail() {
	if [[ -f "$LOG_FILE" ]]; then
		log "last 40 lines of ${LOG_FILE#"$ROOT_DIR"/}:"
		tail -n 40 "$LOG_FILE" >&2
	fi
}

cmd_start() {
	local pid
	pid="$(running_pid)"
	if [[ -n "$pid" ]]; then
		local running_port
		running_port="$(cat "$PORT_FILE" 2>/dev/null || true)"
		[[ "$running_port" == "$PORT" ]] || die "a Keycloak of this checkout (pid $pid) runs on port ${running_port:-?}; run '$0 stop' first"
		if [[ "$(http_status "$READY_PATH")" == 200 ]]; then
			log "already running (pid $pid) at $BASE_URL"
			return 0
		fi
		die "a server (pid $pid) is running but $BASE_URL does not answer; run '$0 stop' first"
	fi
	rm -f "$PID_FILE" "$PORT_FILE"
	port_in_use "$PORT" && die "port $PORT on 127.0.0.1 is already in use by another process; set KEYCLOAK_PORT to a free port"
	port_in_use "$MANAGEMENT_PORT" && die "port $MANAGEMENT_PORT on 127.0.0.1 (management interface) is in use; set KEYCLOAK_MANAGEMENT_PORT"

	cmd_install
	require_java
	mkdir -p "$RUN_DIR"
	chmod 700 "$RUN_DIR"
	rm -rf "$DB_DIR"
	: >"$LOG_FILE"
	local password
	password="${KEYCLOAK_ADMIN_PASSWORD:-$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')}"
	(umask 077 && printf '%s\n' "$password" >"$PASSWORD_FILE")
	printf '%s\n' "$PORT" >"$PORT_FILE"

	log "starting Keycloak $VERSION (start-dev) on $BASE_URL (log: ${LOG_FILE#"$ROOT_DIR"/})"
	local started=$SECONDS
	# A session of its own, so that the server outlives this script; kc.sh ends by exec'ing java, so the pid
	# written by the inner shell is java's. The admin user is bootstrapped from the environment (Keycloak 25).
	# shellcheck disable=SC2016 # expanded by the inner shell
	local launcher=(bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE"
		"$HOME_DIR/bin/kc.sh" start-dev
		--http-host=127.0.0.1 "--http-port=$PORT" "--http-management-port=$MANAGEMENT_PORT"
		"--db-url=jdbc:h2:file:$DB_DIR/keycloakdb;NON_KEYWORDS=VALUE")
	local -a env_vars=(KEYCLOAK_ADMIN=admin "KEYCLOAK_ADMIN_PASSWORD=$password"
		"JAVA_OPTS_APPEND=$JAVA_OPTS_APPEND_DEFAULT")
	if command -v setsid >/dev/null 2>&1; then
		env "${env_vars[@]}" nohup setsid "${launcher[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
	else
		env "${env_vars[@]}" nohup "${launcher[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
	fi

	local waited=0
	while [[ ! -s "$PID_FILE" ]] && ((waited < 50)); do sleep 0.1; waited=$((waited + 1)); done
	pid="$(tr -dc '0-9' <"$PID_FILE" 2>/dev/null || true)"
	[[ -n "$pid" ]] || { print_log_tail; die "the server process did not start"; }

	while true; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$PID_FILE" "$PORT_FILE"
			print_log_tail
			die "the server exited during start-up (after $((SECONDS - started)) s)"
		fi
		if [[ "$(http_status "$READY_PATH")" == 200 ]]; then
			log "up at $BASE_URL (pid $pid) after $((SECONDS - started)) s"
			return 0
		fi
		if ((SECONDS - started >= START_TIMEOUT)); then
			print_log_tail
			log "no answer from $BASE_URL$READY_PATH within $START_TIMEOUT s; stopping pid $pid"
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
		rm -f "$PID_FILE" "$PORT_FILE"
		log "not running"
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
	rm -f "$PID_FILE" "$PORT_FILE"
	log "stopped after $((SECONDS - started)) s"
}

cmd_status() {
	local pid code rss
	pid="$(running_pid)"
	if [[ -z "$pid" ]]; then
		echo "not running"
		return 3
	fi
	use_running_port
	code="$(http_status "$READY_PATH")"
	rss="$(awk '/^VmRSS:/ {printf "%d MiB", $2/1024}' "/proc/$pid/status" 2>/dev/null || true)"
	echo "running: pid $pid, Keycloak $VERSION at $BASE_URL, GET $READY_PATH -> $code, RSS ${rss:-?}"
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
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_stop && cmd_start ;;
status) cmd_status ;;
log | logs) shift; cmd_log "$@" ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
