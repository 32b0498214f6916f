# ClientNest: `make run` starts the embedded mode; `make test` runs every test.
# The web app (web/, React + Vite) needs Node.js 20+; the API needs only Python.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := twitter facebook instagram linkedin deepseek
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test bench bench-analytics clean web web-test

# The web app's sources: everything in web/ but its dependencies and its build.
WEB_SOURCES := $(shell find web \( -path web/node_modules -o -path web/dist -o -path web/test-results -o -path web/playwright-report -o -path web/coverage \) -prune -o -type f -print 2>/dev/null)
# Touched after each `npm ci`: dependencies are installed again when the lockfile is newer.
WEB_DEPS := web/node_modules/.clientnest-npm-ci
NO_NODE_HINT := The dashboard needs Node.js 20+ (https://nodejs.org or your package manager): install it and run 'make web'; serving the API only.

$(VENV)/.installed: setup.cfg setup.py pyproject.toml $(wildcard plugins/*/setup.cfg)
	@$(PYTHON) -c 'import sys; sys.exit("ClientNest needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[test]' $(foreach p,$(PLUGINS),-e plugins/$(p))
	@touch $@

install: $(VENV)/.installed

$(WEB_DEPS): web/package-lock.json
	npm --prefix web ci
	@mkdir -p $(@D) && touch $@

web/dist/index.html: $(WEB_DEPS) $(WEB_SOURCES)
	npm --prefix web run build
	@test -f $@ && touch $@

# the web app, built when web/dist is missing or older than its sources
web: web/dist/index.html

web-test: web
	npm --prefix web run check:api
	npm --prefix web run typecheck
	npm --prefix web test
	npm --prefix web run e2e

# builds the web app first when it can: without Node.js (or before web/ has
# an app) it serves the API and says how to get the dashboard
run: install
	@if [ ! -f web/package.json ]; then echo "No web app in web/ yet: serving the API only."; \
	elif ! command -v npm >/dev/null 2>&1; then echo "$(NO_NODE_HINT)"; \
	else $(MAKE) --no-print-directory web || echo "The web app did not build (see above); serving the API only."; fi
	$(VENV)/bin/clientnest run --host $(HOST) --port $(PORT)

# the web app's tests run after pytest once web/ has an app (WEB_TESTS=0 skips
# them: they drive the embedded server whatever the database, so CI runs them once)
test: install
	$(PY) -m pytest $(PYTEST_ARGS)
	@if [ -f web/package.json ] && [ "$(WEB_TESTS)" != 0 ]; then $(MAKE) --no-print-directory web-test; fi

bench: install
	$(PY) -m bench.run $(BENCH_ARGS)

bench-analytics: install
	$(PY) -m bench.analytics $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var build *.egg-info plugins/*/*.egg-info web/dist web/node_modules
