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
started_here=0
if ! curl -fsS -o /dev/null "${HAPI_BASE_URL}/metadata" 2>/dev/null; then
  scripts/hapi.sh start
  started_here=1
fi
cleanup() { if (( started_here )); then scripts/hapi.sh stop || true; fi; }
trap cleanup EXIT

echo "== pytest"
.venv/bin/python -m pytest -q "$@"
