PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint format bench install

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first (an unpinned torch pulls a multi-GB CUDA build), then the extras.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,qr,local-embeddings]'
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) scripts/dev.py run

test: $(VENV)/.installed
	$(PY) scripts/dev.py test

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.installed
	$(PY) scripts/dev.py services
	$(PY) bench/provision.py
	$(PY) bench/ingest.py
