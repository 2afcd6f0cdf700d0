#!/usr/bin/env bash
# The whole test suite: set-up, lint, types, then pytest with a real HAPI FHIR server running.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-test-server

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy config extractor mapping analysis reports service

export HAPI_PORT=${HAPI_PORT:-8090}
export HAPI_BASE_URL="http://127.0.0.1:${HAPI_PORT}/fhir"
# A second server for the multi-site tests (tests/test_multisite_fhir.py): another hospital.
export HAPI2_PORT=${HAPI2_PORT:-8091}
export HAPI2_BASE_URL="http://127.0.0.1:${HAPI2_PORT}/fhir"
export KEYCLOAK_PORT=${KEYCLOAK_PORT:-8180}
export KEYCLOAK_URL="http://127.0.0.1:${KEYCLOAK_PORT}"
started_here=0
second_started_here=0
keycloak_started_here=0
cleanup() {
  if (( keycloak_started_here )); then scripts/keycloak.sh stop || true; fi
  if (( started_here )); then scripts/hapi.sh stop || true; fi
  if (( second_started_here )); then HAPI_PORT=$HAPI2_PORT scripts/hapi.sh stop || true; fi
}
trap cleanup EXIT
scripts/hapi.sh build
second=""
if ! curl -fsS -o /dev/null "${HAPI2_BASE_URL}/metadata" 2>/dev/null; then
  second_started_here=1
  HAPI_PORT=$HAPI2_PORT HAPI_JAVA_OPTS="${HAPI2_JAVA_OPTS:--Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError}" \
    scripts/hapi.sh start &
  second=$!
fi
if ! curl -fsS -o /dev/null "${HAPI_BASE_URL}/metadata" 2>/dev/null; then
  started_here=1
  scripts/hapi.sh start
fi
if [[ -n "$second" ]]; then wait "$second"; fi
# Keycloak for tests/extractor/test_keycloak.py (the SMART client registered by the recipe in docs/extraction.md)
if ! curl -fsS -o /dev/null "${KEYCLOAK_URL}/realms/master/.well-known/openid-configuration" 2>/dev/null; then
  keycloak_started_here=1
  scripts/keycloak.sh start
fi

echo "== pytest"
.venv/bin/python -m pytest -q "$@"
