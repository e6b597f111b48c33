# prepbench: `make` sets everything up and runs the main job; `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STUDY  ?= cpu
DATA   ?=
PORT   ?= 5000

.PHONY: all install run report reports test ui
all: run

$(BIN)/prepbench-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,jax]'
	touch $@

install: $(BIN)/prepbench-installed

REPORT  = $(BIN)/python -m prepbench.report --experiment $(STUDY) --out results/$(STUDY) \
	    --tracking-uri "$$($(BIN)/python -m prepbench.ui $(STUDY) --print-tracking-uri)"

# The study's sweep, then its report (also when some jobs failed: the report says which).
# No $(MAKE) in a recipe: make runs such lines even under `make -n`, which must run nothing.
run: install
	$(BIN)/python -m prepbench -m experiment=$(STUDY) $(DATA); status=$$?; \
	$(REPORT) && exit $$status

# The report reads the study's own store (experiments/STUDY.yaml's tracking.uri).
report: install
	$(REPORT)

# Every report published under results/, written again by the command it prints: after a study's
# store grows or the report's code changes (the tests fail while a published report is stale).
reports: install
	$(BIN)/python -m prepbench.report.published

# Lint and formatting (ruff), the one-way imports (import-linter's contracts in pyproject.toml), then
# the tests: what CI runs.
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# The MLflow dashboard on the study's store, for this machine only; prints the URLs of a ready
# runs table and of the comparison of the study's runs.
ui: install
	$(BIN)/python -m prepbench.ui $(STUDY) --host 127.0.0.1 --port $(PORT)
