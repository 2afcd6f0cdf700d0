# The two commands a newcomer needs: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
PY := .venv/bin/python
HAPI_PORT ?= 8090
export HAPI_PORT

.PHONY: demo setup test check lint types unit hapi-start hapi-stop clean

demo: setup
	$(PY) -m service run --out out --no-email

setup:
	scripts/setup.sh

lint: setup
	.venv/bin/ruff check .

types: setup
	.venv/bin/mypy config extractor mapping analysis reports service

# The whole suite: lint, types, unit and integration tests against a real HAPI server,
# which is built, started before and stopped after the tests, also when they fail.
test:
	scripts/test.sh

check: test

unit: setup
	$(PY) -m pytest -m "not hapi and not keycloak" -q

hapi-start:
	scripts/hapi.sh start

hapi-stop:
	scripts/hapi.sh stop

clean:
	rm -rf out build *.egg-info .mypy_cache .ruff_cache .pytest_cache
