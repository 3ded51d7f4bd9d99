# The README's two commands: `make demo` and `make test`. Both set everything up from nothing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.emovec-installed

.PHONY: install demo test lint typecheck bench docs fetch browser clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@# torch first, pinned: a CPU wheel lies on the project's machines; anything else pulls CUDA.
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

fetch: $(STAMP)
	$(VENV)/bin/emovec models fetch

demo: fetch
	$(VENV)/bin/emovec replicate

# The report test renders HTML in headless Chromium; install Debian's when we may (root, apt).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "note: chromium not installed; the headless-browser report test will be skipped"; }

test: fetch browser
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check emovec adapters tests benchmarks
	$(VENV)/bin/ruff format --check emovec adapters tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/pyright

bench: fetch
	$(PY) benchmarks/run_all.py

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) build *.egg-info
