# Two commands do all set-up: `make run` and `make test` (see README.md).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
DEMO_EVENTS ?= 5000
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test bench package clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Migrate, create the demo admin and data on first run, start the projector and
# the report worker (reports, schedules, expiry) beside the web server, and stop
# them when the server stops. Reports run in the worker, not in a thread of the
# web server: it writes big CSV exports with REPORT_WORKERS processes.
run: export REPORT_RUNNER ?= worker
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	@# On AUDIT_STORE=dynamodb (with AWS_ENDPOINT_URL, e.g. a local moto_server), make the tables first.
	@if [ "$$AUDIT_STORE" = dynamodb ]; then $(PY) manage.py bootstrap_aws; fi
	$(PY) manage.py bootstrap_demo --events $(DEMO_EVENTS) --port $(PORT)
	@trap 'kill $$projector $$reports 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py run_projector & projector=$$!; \
	$(PY) manage.py run_report_worker & reports=$$!; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# The whole suite; a throwaway PostgreSQL server is started when one is installed.
test: $(STAMP)
	$(PY) -m tests.services.postgres -- $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/ingest.py

# The Lambda packages of the Zappa stages, built from a lean deploy environment (build/lambda/).
package: $(STAMP)
	$(PY) deploy/package.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
