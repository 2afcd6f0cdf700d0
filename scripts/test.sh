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
export KEYCLOAK_PORT=${KEYCLOAK_PORT:-8180}
export KEYCLOAK_URL="http://127.0.0.1:${KEYCLOAK_PORT}"
started_here=0
keycloak_started_here=0
cleanup() {
  if (( keycloak_started_here )); then scripts/keycloak.sh stop || true; fi
  if (( started_here )); then scripts/hapi.sh stop || true; fi
}
trap cleanup EXIT
if ! curl -fsS -o /dev/null "${HAPI_BASE_URL}/metadata" 2>/dev/null; then
  started_here=1
  scripts/hapi.sh start
fi
# Keycloak for tests/extractor/test_keycloak.py (the SMART client registered by the recipe in docs/extraction.md)
if ! curl -fsS -o /dev/null "${KEYCLOAK_URL}/realms/master/.well-known/openid-configuration" 2>/dev/null; then
  keycloak_started_here=1
  scripts/keycloak.sh start
fi

echo "== pytest"
.venv/bin/python -m pytest -q "$@"
