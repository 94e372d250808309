# PLS Portal: `make demo` runs the app with demo data, `make test` runs the suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV := $(PYTHON) -m uv
PY := .venv/bin/python
export PYTHONUNBUFFERED := 1

# Tests never share a database or a broker with a running demo.
TEST_ENV := DATABASE_URL=$${DATABASE_URL:-sqlite:///$(CURDIR)/var/test-suite.sqlite3} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-sqla+sqlite:///$(CURDIR)/var/test-celery-broker.sqlite3}

.PHONY: help setup demo test lint format browser bench bench-scoring reliability

help:
	@echo "make demo   set up, load demo data, run web + worker + beat (Ctrl-C stops all)"
	@echo "make test   set up and run the whole test suite (browser tests included)"
	@echo "make lint   ruff check + ruff format --check"

# uv from PyPI into the Python of .python-version, then the locked dependencies.
setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock .python-version
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

# Debian's Chromium for the browser tests; installed when missing and we may use apt.
browser:
	@if [ -x "$${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Chromium is missing: browser tests will be skipped (apt-get install chromium)"; \
	fi

demo: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py run_demo

test: setup browser
	$(PY) manage.py makemigrations --check --dry-run
	$(TEST_ENV) $(PY) -m pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

# Benchmarks (PostgreSQL + Redis; see benchmarks/README.md; never part of `make test`). The
# population, 100k accounts and 10M events unless BENCH_ARGS says otherwise (e.g.
# BENCH_ARGS="--accounts 10000 --events 1000000"), is generated once and reused; so is the
# 10× smaller one (<name>_small) that scoring's memory check and the pages' query counts
# compare against. Each script writes its section of benchmarks/report.md:
# ingest (INGEST_ARGS), import memory, scoring (SCORING_ARGS), pages (PAGES_ARGS) and
# freshness (FRESHNESS_ARGS). About 25 minutes on 2 CPUs once the populations exist.
BENCH_DATABASE_URL := postgres://postgres@127.0.0.1:5432/pls_bench
BENCH_URL = $${DATABASE_URL:-$(BENCH_DATABASE_URL)}

# A missed goal does not stop the others: every section is written, then the exit status
# says whether all goals were met.
bench: setup
	DATABASE_URL=$(BENCH_URL) $(PY) benchmarks/generate.py --create-db --reuse $(BENCH_ARGS)
	@failed=""; export DATABASE_URL=$(BENCH_URL); \
	$(PY) benchmarks/ingest.py $(INGEST_ARGS) || failed="$$failed ingest"; \
	$(PY) benchmarks/import_memory.py || failed="$$failed import"; \
	$(PY) benchmarks/scoring.py --keep-small $(SCORING_ARGS) || failed="$$failed scoring"; \
	$(PY) benchmarks/pages.py --compare-database-url "$${DATABASE_URL}_small" $(PAGES_ARGS) \
		|| failed="$$failed pages"; \
	$(PY) benchmarks/freshness.py $(FRESHNESS_ARGS) || failed="$$failed freshness"; \
	if [ -n "$$failed" ]; then echo "goals missed or runs failed:$$failed (benchmarks/report.md)"; exit 1; fi; \
	echo "every goal met (benchmarks/report.md)"

# Scoring alone against a bare GROUP BY over the same population (SCORING_ARGS goes to
# scoring.py, e.g. SCORING_ARGS="--repeats 1 --skip-memory").
bench-scoring: setup
	DATABASE_URL=$(BENCH_URL) $(PY) benchmarks/generate.py --create-db --reuse $(BENCH_ARGS)
	DATABASE_URL=$(BENCH_URL) $(PY) benchmarks/scoring.py $(SCORING_ARGS)

# Reliability drills (docs/reliability.md; never part of `make test`): kill -9 of the worker
# mid-rollup and mid-rescore, a PostgreSQL outage under the Segment SDK, 50 concurrent claims,
# a 100k-event file replay. PostgreSQL + Redis: databases rel_* and test_rel of their own and
# Redis db 4 (override RELIABILITY_DATABASE_URL / RELIABILITY_BROKER_URL); the outage drill
# stops a throwaway cluster of its own (initdb, port 5439 or the next free one), never the
# machine's PostgreSQL; then the fuzzing of ingestion and imports (6,750 hypothesis cases).
# 5-7 minutes on 2 CPUs; stopped (cleanly, SIGINT) after 15.
RELIABILITY_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/rel
RELIABILITY_BROKER_URL ?= redis://127.0.0.1:6379/4

reliability: setup
	DATABASE_URL=$(RELIABILITY_DATABASE_URL) CELERY_BROKER_URL=$(RELIABILITY_BROKER_URL) \
		timeout --signal=INT --kill-after=60 900 \
		$(PY) -m pytest -m reliability tests/reliability --durations=0
