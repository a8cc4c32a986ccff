# avatarsite: `make run` serves the site, `make test` runs the whole suite.
# Both install what is missing first (venv, Python packages, npm packages).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1

WORKERS ?=

.PHONY: run serve test ci lint format install install-test browser-deps gettext-deps messages scaleout-deps clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

install-test: $(VENV)/.installed-test node_modules/.installed browser-deps

# Debian's Chromium for the browser tests (Playwright never downloads its own).
browser-deps:
	@test -x /usr/lib/chromium/chromium || { \
		echo "Installing Chromium from the distribution's packages..."; \
		(apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The page's translations (locale/*.po) compiled to the .mo files Django reads (not kept
# in git). compilemessages needs GNU gettext's msgfmt: installed from the distribution's
# packages when missing, like Chromium above.
gettext-deps:
	@command -v msgfmt >/dev/null || { \
		echo "Installing gettext from the distribution's packages..."; \
		(apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; }

messages: $(VENV)/.installed gettext-deps
	$(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0

run: install messages
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  avatarsite is at http://$(HOST):$(PORT)/"
	@echo "  Sign in as demo / demo-password (staff: admin / admin-password, at /admin/)."
	@echo ""
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# The production start: WORKERS served processes (default one per core) on ports PORT,
# PORT+1, ... on the configured PostgreSQL and Redis, migrated once, each restarted if it
# dies; prints the reverse proxy's configuration. SIGTERM drains, SIGHUP rolls a restart.
serve: install messages
	$(PY) manage.py serve_workers --host $(HOST) --port $(PORT) $(if $(WORKERS),--workers $(WORKERS))

# Redis and PostgreSQL from the distribution's packages, for the second pass of `make test`
# (only installed; tools/services.py starts them on loopback in a temporary directory).
scaleout-deps: $(VENV)/.installed-test
	$(PY) -m tools.services install

# The whole suite on the embedded defaults (SQLite, local-memory cache, in-memory channel
# layer); then everything but the browser tests again on PostgreSQL and Redis, with the
# two-process tests (tests/processes/test_scaleout.py, test_spend_two_processes.py,
# tests/realtime/test_caps_across_processes.py: run alone they start a PostgreSQL and a
# Redis of their own, ~45 s, for what the second pass shows anyway) and the browser test of a
# server restart (marked `restart`: there the session resumes). --reuse-db: the cluster is
# thrown away after the run, and dropping the test database would wait on connections that
# asgiref's worker threads still hold. Tests marked `second_pass` (the ~60 s schemathesis
# run) run once, in the second pass, where the served process is on PostgreSQL and Redis;
# those marked `first_pass` (plain functions, files read as files, fresh interpreters with
# environments of their own: nothing of the run's database or cache; the rule is in
# tests/conftest.py) only in the first.
test: install-test messages scaleout-deps
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/lint-imports
	$(PY) tools/check_size.py
	node --test tests/js/
	$(PY) -m pytest --durations=15 -m "not second_pass" --ignore=tests/processes/test_scaleout.py --ignore=tests/processes/test_spend_two_processes.py --ignore=tests/realtime/test_caps_across_processes.py
	$(PY) -m tools.services run -- $(PY) -m pytest --durations=15 -m "(not browser or restart) and not first_pass" --reuse-db

ci: lint test

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules staticfiles locale/*/LC_MESSAGES/*.mo
