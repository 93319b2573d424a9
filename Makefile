# Build, run and test the Master Account Portal.  `make help` lists the targets.
#
# Every step is stamped, so a second `make run` / `make test` goes straight to the server / pytest.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
# One pytest worker per core (pytest-xdist): each has its own PostgreSQL cluster and live portal.
# Serial, the suite takes ~16 minutes on 2 cores; in two workers ~8.
PYTEST_ARGS ?= -n auto
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app portal
DEPS_STAMP := $(VENV)/.deps-installed
ASSETS_STAMP := static/vendor/.built
INSTANCE := $(or $(PORTAL_INSTANCE_PATH),instance)
# What the test suite needs from Debian: a browser for tests/e2e and a server for the PG path.
TEST_SYSTEM_PACKAGES := chromium postgresql

.PHONY: help run test deps assets system-packages check-app reset-db clean

help:
	@echo "make run        set up, migrate, load demo data, serve on 127.0.0.1:\$${PORT:-5000} with the worker"
	@echo "make test       set up (incl. chromium + postgresql via apt) and run the whole pytest suite"
	@echo "make deps       virtualenv in $(VENV) with the app and its dev dependencies"
	@echo "make assets     front-end packages from package-lock.json into static/vendor/ (+ deps)"
	@echo "make reset-db   delete the SQLite databases in $(INSTANCE)/ (make run recreates them)"
	@echo "make clean      remove $(VENV), node_modules, static/vendor and caches (keeps $(INSTANCE)/)"

# --- set-up ------------------------------------------------------------------------------------

$(BIN)/python:
	@# Debian's python3 can only create virtualenvs with python3-venv installed.
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || scripts/ensure-system-packages.sh python3-venv
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

deps: $(DEPS_STAMP)

$(ASSETS_STAMP): package.json package-lock.json scripts/build-assets.sh
	scripts/build-assets.sh
	@touch $@

# Also prepares the virtualenv, so `make assets && .venv/bin/pytest …` works in a fresh clone.
assets: $(ASSETS_STAMP) | deps

system-packages:
	@scripts/ensure-system-packages.sh $(TEST_SYSTEM_PACKAGES)

check-app:
	@missing=""; \
	for f in wsgi.py portal/__init__.py portal/worker.py; do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
		echo "error: the portal application is not complete here (missing:$$missing)." >&2; \
		echo "       make run needs the app core (portal/, wsgi.py, migrations/) from the main branch." >&2; \
		exit 1; \
	fi

# --- run -----------------------------------------------------------------------------------------

# Runs on the embedded defaults (SQLite, Huey on SQLite, mail kept for /dev/mail): no system services.
# Links in mail and in the printed demo logins point at this server's port unless PORTAL_BASE_URL
# is set (scripts/serve.py does the same for the server and the worker).
run: export PORTAL_ENV ?= development
run: export PORTAL_BASE_URL ?= http://127.0.0.1:$(or $(PORT),5000)
run: deps assets check-app
	$(FLASK) db upgrade
	$(FLASK) demo --if-empty
	$(FLASK) demo-logins
	$(BIN)/python scripts/serve.py

# --- test ----------------------------------------------------------------------------------------

# The *_REQUIRE_* / PG switches turn "skipped: no chromium / no PostgreSQL" into failures, so CI
# can never pass by quietly leaving out the browser or the PostgreSQL path.
test: export PORTAL_ENV := testing
test: export PORTAL_TEST_PG := 1
test: export PORTAL_REQUIRE_BROWSER := 1
test: system-packages deps assets
	$(BIN)/pytest $(PYTEST_ARGS)

# --- housekeeping --------------------------------------------------------------------------------

reset-db:
	rm -f $(INSTANCE)/*.db $(INSTANCE)/*.db-wal $(INSTANCE)/*.db-shm $(INSTANCE)/*.db-journal
	@echo "SQLite databases in $(INSTANCE)/ removed; make run recreates them with demo data."

clean:
	rm -rf $(VENV) node_modules static/vendor static/.vendor.* .pytest_cache .hypothesis \
		tests/e2e/artifacts build dist *.egg-info
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
