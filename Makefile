# MFDP: the project's vocabulary. Only python3 >= 3.11 and make are assumed.
SHELL := /bin/bash
PYTHON ?= python3
PORT ?= 8000
UV_VERSION ?= 0.13.9
BOOTSTRAP := .bootstrap
UV := $(BOOTSTRAP)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export PORT

.PHONY: help demo test smoke lint format messages bench setup clean

help:
	@echo "make demo     start web + Celery worker + django-q2 on http://127.0.0.1:$(PORT) with demo data"
	@echo "make test     run the whole test suite"
	@echo "make smoke    production mode (DEBUG off) on PostgreSQL, Redis, S3 (moto): one paid prediction"
	@echo "make lint     ruff check and format check"
	@echo "make format   apply ruff's fixes and formatting"
	@echo "make messages refresh the translation catalogs (needs GNU gettext) and compile them"

# uv lives in its own small venv, so that 'uv sync' of the project never removes it.
$(UV):
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

setup: $(VENV)/.synced

demo: setup
	$(MANAGE) prepare_demo
	@echo "MFDP is starting on http://127.0.0.1:$(PORT) (Ctrl-C stops everything)"
	DEMO_TOPUP=$${DEMO_TOPUP:-true} exec $(VENV)/bin/honcho start --procfile Procfile --port $(PORT)

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# gunicorn, a Celery worker and the q2 cluster as docker-compose.yml runs them, on a throwaway
# PostgreSQL database, Redis databases 12-14 and moto's S3; see docs/deploy.md.
smoke: setup
	$(PY) deploy/smoke.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

messages: setup
	$(MANAGE) makemessages --all --no-obsolete --ignore=.venv --ignore=.bootstrap --ignore=var
	$(MANAGE) compilemessages --ignore=.venv --ignore=.bootstrap

bench: setup
	$(VENV)/bin/python bench/billing.py
	$(VENV)/bin/python bench/io.py
	$(VENV)/bin/python bench/batch.py
	$(VENV)/bin/python bench/train.py

clean:
	rm -rf $(VENV) $(BOOTSTRAP) var/static
