# Deskbridge: two commands from a fresh clone (Python 3.11 and git only).
#   make run   — set up, migrate, apply schedules, serve web + django-q2 cluster (Ctrl-C stops both)
#   make test  — set up and run the whole suite (DATABASE_URL → PostgreSQL, else SQLite)

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo test install browser lint fmt migrate schedules bench bench-push clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Deskbridge needs Python 3.11"'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

schedules: migrate
	$(BIN)/python manage.py apply_schedules

run: schedules
	@echo ""
	@echo "Deskbridge is starting (web + task cluster). Ctrl-C stops both."
	@echo "  Start page     : http://$(HOST):$(PORT)/"
	@echo "  App descriptor : http://$(HOST):$(PORT)/atlassian-connect.json"
	@echo "  Health         : http://$(HOST):$(PORT)/healthz"
	@echo "  Django admin   : http://$(HOST):$(PORT)/admin/   (create a login: $(BIN)/python manage.py createsuperuser)"
	@echo "  API schema     : http://$(HOST):$(PORT)/api/schema/"
	@echo "  API docs       : http://$(HOST):$(PORT)/api/docs/"
	@echo "  Jira admin page: http://$(HOST):$(PORT)/jira/admin   (an iframe: opens from inside Jira)"
	@echo "  Issue panel    : http://$(HOST):$(PORT)/jira/issue-panel   (an iframe: opens from inside Jira)"
	@# APP_BASE_URL (the descriptor's baseUrl) follows HOST and PORT unless set in the environment, on the
	@# command line or in .env.
	@if [ -z "$${APP_BASE_URL:-}" ] && ! grep -qs '^APP_BASE_URL=' .env; then export APP_BASE_URL=http://$(HOST):$(PORT); fi; \
	  echo "  APP_BASE_URL   : $${APP_BASE_URL:-from .env when DJANGO_READ_DOT_ENV_FILE=true}   (the descriptor's baseUrl)"; echo ""; \
	  exec $(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

# The whole product on one machine: the app and its worker against a simulated Jira site and Zendesk (demo/),
# set up and ready to click through; prints one URL (Ctrl-C stops everything). DEMO_PORT=… fixes the app's port.
demo: install
	@$(BIN)/python -m demo.run

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser test drives Debian's chromium (never a downloaded browser). Installed here when missing
# and we are root; otherwise that one test is skipped with the reason shown.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed and cannot be installed here (needs root and apt-get): the browser test will be skipped"; fi; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	@for script in tests/bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

# The push benchmark alone (Jira webhooks → Zendesk through `manage.py serve`); `make bench` runs it too.
bench-push: install
	$(BIN)/python tests/bench/bench_push.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .ruff_cache staticfiles .demo tests/artifacts
