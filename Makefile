# Two commands do all set-up on a fresh machine:  `make run` (the notebook pipeline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: run test lint clean-smoke

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## all notebooks in order, headless (PROFILE=quick: offline bundled sample; PROFILE=full: real data)
	$(PY) -m src_helpers.pipeline --profile $(PROFILE)

test: $(STAMP)  ## unit tests + quick notebook runs (+ real-data tests when ../shared/data/goemotions exists)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean-smoke:
	rm -rf .smoke
