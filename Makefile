# Two commands do all set-up on a fresh machine:  `make run` (the notebook pipeline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pyproject.toml declares version ranges; the exact versions of the tested install live in the constraints file.
# EXTRAS: "augment" is TextAttack (its dependency flair holds transformers at 4.x); "studies" is the PostgreSQL
# driver for Optuna studies shared by workers on many machines (tests/experiments/test_studies_workers.py uses it).
CONSTRAINTS ?= constraints.txt
EXTRAS ?= dev,augment,studies
# a second environment for CI: the transformers-5 stack, without TextAttack
VENV_TF5 ?= .venv-tf5
# "demo" is Gradio + Selenium (the browser demo and its test): gradio 6 needs huggingface-hub>=1 (transformers 5)
EXTRAS_TF5 ?= dev,studies,demo
PY_TF5 := $(VENV_TF5)/bin/python
STAMP_TF5 := $(VENV_TF5)/.installed
CONSTRAINTS_TF5 ?= constraints-tf5.txt
PROFILE ?= quick
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# offline NLTK data (WordNet from Debian's packages + the project's stopword list), see tools/nltk_setup.py
export NLTK_DATA ?= $(CURDIR)/.cache/nltk_data
# pip freeze without the project itself and without torch's local build label (+cpu, +cu126...)
FREEZE = -m pip freeze --exclude-editable | sed -E 's/\+(cpu|cu[0-9]+|rocm[0-9.]+)$$//'

.PHONY: run demo test test-slow test-all test-tf5 lint lock lock-tf5 wordnet clean-smoke

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(MAKE) wordnet
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	$(PY) -m tools.nltk_setup || echo "WordNet not prepared: augmentation recipes that need it are unavailable"
	touch $(STAMP)

$(STAMP_TF5): pyproject.toml $(CONSTRAINTS_TF5)
	$(PYTHON) -m venv $(VENV_TF5)
	$(PY_TF5) -m pip install -q --upgrade pip
	$(PY_TF5) -m pip install -q -c $(CONSTRAINTS_TF5) -e '.[$(EXTRAS_TF5)]'
	touch $(STAMP_TF5)

wordnet:  ## WordNet 3.0 for offline TextAttack augmentation (Debian/Ubuntu; elsewhere nltk.download works online)
	@if [ -f /usr/share/wordnet/data.noun ] && [ -f /usr/share/wordnet/index.sense ]; then :; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends wordnet-base wordnet-sense-index; \
	else echo "no apt-get: install WordNet 3.0 yourself, or online run: $(PY) -m tools.nltk_setup --download"; fi

run: $(STAMP)  ## all notebooks in order, headless (PROFILE=quick: offline bundled sample; PROFILE=full: real data)
	$(PY) -m tools.pipeline --profile $(PROFILE)

# extra options after the module, e.g. DEMO_ARGS="--model notebook_outputs/runs/NAME/model --port 7861"
DEMO_ARGS ?=
demo: $(STAMP_TF5)  ## the best local model on a web page (Gradio, http://127.0.0.1:7860), in the transformers-5 venv
	$(PY_TF5) -m src_helpers.demo $(DEMO_ARGS)

# pyproject.toml's pytest options leave the tests marked slow out of a plain `pytest`; `-m` on the command line
# replaces that selection. CI runs `make test`, then `make test-slow`: every test once.
test: $(STAMP)  ## the fast tests: unit tests and one quick notebook run (minutes; no slow marker)
	$(PY) -m pytest -q

test-slow: $(STAMP)  ## only the slow tests: notebook runs, model training, Optuna workers, PostgreSQL, real data
	$(PY) -m pytest -q -m slow

test-all: $(STAMP)  ## every test in one run (make test + make test-slow)
	$(PY) -m pytest -q -m "slow or not slow"

# Tests that never touch transformers run once, in `make test` / `make test-slow`: the Optuna worker processes,
# the real-data TF-IDF baseline (scikit-learn), the report generator, the notebook runner and the run-folder migration.
TF5_SKIP := tests/experiments/test_studies_workers.py tests/training/test_tfidf.py tests/tools/test_report.py \
	tests/tools/test_pipeline.py tests/tools/test_migrate_run_folders.py
test-tf5: $(STAMP_TF5)  ## the other tests (slow ones too) on the transformers-5 stack; TextAttack's, notebooks 01-03 skip
	$(PY_TF5) -m pytest -q -m "slow or not slow" $(addprefix --ignore=,$(TF5_SKIP))

lint: $(STAMP)
	$(VENV)/bin/ruff check .

lock: $(STAMP)  ## after changing pyproject.toml or upgrading .venv: pin what .venv holds into $(CONSTRAINTS)
	{ sed -n '/^#/p' $(CONSTRAINTS); $(PY) $(FREEZE); } > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)

lock-tf5:  ## resolve the newest transformers-5 stack afresh (same torch as $(CONSTRAINTS)) into $(CONSTRAINTS_TF5)
	rm -rf $(VENV_TF5)
	$(PYTHON) -m venv $(VENV_TF5)
	$(PY_TF5) -m pip install -q --upgrade pip
	{ grep '^torch==' $(CONSTRAINTS); echo 'transformers>=5'; } > $(VENV_TF5)/seed.txt
	$(PY_TF5) -m pip install -q -c $(VENV_TF5)/seed.txt -e '.[$(EXTRAS_TF5)]'
	{ sed -n '/^#/p' $(CONSTRAINTS_TF5); $(PY_TF5) $(FREEZE); } > $(CONSTRAINTS_TF5).new
	mv $(CONSTRAINTS_TF5).new $(CONSTRAINTS_TF5)
	touch $(STAMP_TF5)

clean-smoke:
	rm -rf .smoke
