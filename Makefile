# Relman: `make run` starts the app with demo data; `make test` runs the tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# Browser tests drive the system Chromium; they are deselected when there is none.
ifeq ($(origin RELMAN_CHROMIUM),undefined)
RELMAN_CHROMIUM := $(shell command -v chromium chromium-browser google-chrome 2>/dev/null | head -n 1)
endif
export RELMAN_CHROMIUM
export RELMAN_ARTIFACTS_DIR ?= $(CURDIR)/test-artifacts
ifeq ($(strip $(RELMAN_CHROMIUM)),)
BROWSER_SELECTION := -m "not browser"
endif

.PHONY: venv run migrate schema test test-browser lint clean

venv: $(STAMP)

# Re-installs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Relman needs Python 3.11 or newer: make PYTHON=python3.12 ..." >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Development mode (RELMAN_DEBUG=1, plain HTTP): works with nothing configured. var/ (not
# in git) holds the SQLite database, the filesystem broker and beat's schedule.
run migrate schema: export RELMAN_DEBUG ?= 1

# serve --prepare-only creates var/ (with the broker's folders) and migrates, so that the
# deployments seed_demo starts wait in the broker until serve's worker picks them up.
# Scripts run as RELMAN_SCRIPT_USER, and only root can switch to it: a developer who is not
# root is told how to opt in to running them as themselves (README, "Who can run code where").
run: venv
	@[ "$$(id -u)" = 0 ] || [ "$${RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER:-0}" != 0 ] || echo "Not root: script \
	steps will be refused. To run them as $$(id -un) (unsafe, development only): \
	RELMAN_UNSAFE_SCRIPTS_AS_WORKER_USER=1 make run" >&2
	$(BIN)/python manage.py serve --prepare-only
	$(BIN)/python manage.py seed_demo --history
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

migrate: venv
	mkdir -p "$${RELMAN_VAR_DIR:-var}"
	$(BIN)/python manage.py migrate --noinput

# The API's OpenAPI document, committed so that clients can be generated without a
# server and so that a change to the API shows in review; a test fails when it drifts.
schema: venv
	$(BIN)/python manage.py spectacular --format openapi-json --validate --fail-on-warn --file docs/openapi.json

# SQLite and the filesystem broker by default; PostgreSQL and Redis when
# RELMAN_TEST_DATABASE_URL / RELMAN_TEST_BROKER_URL are set.
test: venv
	@mkdir -p "$${RELMAN_VAR_DIR:-var}"
	@echo "Database: $${RELMAN_TEST_DATABASE_URL:-SQLite}; broker: $${RELMAN_TEST_BROKER_URL:-filesystem}"
	@echo "Browser tests: $(if $(strip $(RELMAN_CHROMIUM)),$(RELMAN_CHROMIUM) (screenshots in $(RELMAN_ARTIFACTS_DIR)),skipped (no Chromium; set RELMAN_CHROMIUM))"
	$(BIN)/python -m pytest $(BROWSER_SELECTION) $(PYTEST_ARGS)

test-browser: venv
	@mkdir -p "$${RELMAN_VAR_DIR:-var}"
	@test -n "$(strip $(RELMAN_CHROMIUM))" || { echo "No Chromium found: set RELMAN_CHROMIUM" >&2; exit 1; }
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Removes caches, build output, test artefacts and var/'s runtime files; keeps the
# database (var/relman.sqlite3) and the virtualenv.
clean:
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info test-artifacts control
	rm -rf var/static var/broker var/celerybeat-schedule* var/test*.sqlite3*
