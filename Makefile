# Two commands do all set-up on a fresh machine:  `make run` (the notebook pipeline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# offline NLTK data (WordNet from Debian's packages + the project's stopword list), see src_helpers/nltk_setup.py
export NLTK_DATA ?= $(CURDIR)/.cache/nltk_data

.PHONY: run test lint wordnet clean-smoke

$(STAMP): pyproject.toml
	$(MAKE) wordnet
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m src_helpers.nltk_setup || echo "WordNet not prepared: augmentation recipes that need it are unavailable"
	touch $(STAMP)

wordnet:  ## WordNet 3.0 for offline TextAttack augmentation (Debian/Ubuntu; elsewhere nltk.download works online)
	@if [ -f /usr/share/wordnet/data.noun ] && [ -f /usr/share/wordnet/index.sense ]; then :; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends wordnet-base wordnet-sense-index; \
	else echo "no apt-get: install WordNet 3.0 yourself, or online run: $(PY) -m src_helpers.nltk_setup --download"; fi

run: $(STAMP)  ## all notebooks in order, headless (PROFILE=quick: offline bundled sample; PROFILE=full: real data)
	$(PY) -m src_helpers.pipeline --profile $(PROFILE)

test: $(STAMP)  ## unit tests + quick notebook runs (+ real-data tests when ../shared/data/goemotions exists)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean-smoke:
	rm -rf .smoke
