#!/usr/bin/env bash
# Creates .venv and installs everything pelvic-outcomes needs, including the Debian packages
# WeasyPrint (pango, harfbuzz), the tests (poppler-utils) and the HAPI test server (JDK 17, Maven) need.
# Run as root to install Debian packages; otherwise it names the missing ones and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_SERVER=0
[[ "${1:-}" == "--with-test-server" ]] && WITH_SERVER=1

DEBS=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils python3-venv)
if (( WITH_SERVER )); then
  DEBS+=(openjdk-17-jdk-headless maven curl)
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${DEBS[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
  done
  # A JDK 17 and Maven already on PATH (e.g. a Temurin install) are as good as Debian's.
  if (( WITH_SERVER )) && command -v mvn >/dev/null && command -v java >/dev/null; then
    filtered=()
    for pkg in "${missing[@]}"; do [[ "$pkg" == openjdk-17-jdk-headless || "$pkg" == maven ]] || filtered+=("$pkg"); done
    missing=("${filtered[@]+"${filtered[@]}"}")
  fi
fi

if (( ${#missing[@]} )); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python 3.11 or newer is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi

stamp=.venv/.installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp || constraints.txt -nt $stamp ]]; then
  [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  # An editable install is what we want here; setuptools' reminder of what that means is not news.
  PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
echo "setup: ready (.venv)"
