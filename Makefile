# ClientNest: `make run` starts the embedded mode; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := twitter facebook instagram linkedin deepseek
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test bench bench-analytics clean

$(VENV)/.installed: setup.cfg setup.py pyproject.toml $(wildcard plugins/*/setup.cfg)
	@$(PYTHON) -c 'import sys; sys.exit("ClientNest needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[test]' $(foreach p,$(PLUGINS),-e plugins/$(p))
	@touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/clientnest run --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m bench.run $(BENCH_ARGS)

bench-analytics: install
	$(PY) -m bench.analytics $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var build *.egg-info plugins/*/*.egg-info
