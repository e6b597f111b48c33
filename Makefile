# prepbench: `make` sets everything up and retrains the main study into a store of its own, then sets
# its numbers beside the published ones; `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STUDY  ?= cpu
DATA   ?=
PORT   ?= 5000
LOCAL  ?= local

.PHONY: all install run publish report reports test ui ui-local
all: run

$(BIN)/prepbench-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,jax]'
	touch $@

install: $(BIN)/prepbench-installed

REPORT  = $(BIN)/python -m prepbench.report --experiment $(STUDY) --out results/$(STUDY) \
	    --tracking-uri "$$($(BIN)/python -m prepbench.ui $(STUDY) --print-tracking-uri)"

# `make`'s own store, report and sweep logs: LOCAL/STUDY, which git ignores (.gitignore), never a published
# study's store under results/ (tests/test_cli.py holds this). Command-line overrides beat the experiment file's.
HERE     = $(LOCAL)/$(STUDY)
HERE_URI = sqlite:///$(CURDIR)/$(HERE)/mlflow.db
TO_HERE  = tracking.uri=$(HERE_URI) 'tracking.artifact_location=$(CURDIR)/$(HERE)/mlartifacts/$${tracking.experiment}' \
	   'hydra.sweep.dir=$(CURDIR)/$(HERE)/hydra/$${now:%Y-%m-%d_%H-%M-%S}'

# The study's sweep into LOCAL/STUDY, its report there (also when some jobs failed: the report says
# which), then every cell and verdict set beside the published report in results/STUDY.
# No $(MAKE) in a recipe: make runs such lines even under `make -n`, which must run nothing.
run: install
	$(BIN)/python -m prepbench -m experiment=$(STUDY) $(DATA) $(TO_HERE); status=$$?; \
	$(BIN)/python -m prepbench.report --experiment $(STUDY) --out $(HERE) --tracking-uri $(HERE_URI) && \
	$(BIN)/python -m prepbench.report.replication $(HERE) results/$(STUDY) && exit $$status

# Publishing, only when meant: the sweep into the study's own committed store (experiments/STUDY.yaml's
# tracking.uri, under results/), then its report in results/STUDY. Commit both afterwards.
publish: install
	$(BIN)/python -m prepbench -m experiment=$(STUDY) $(DATA); status=$$?; \
	$(REPORT) && exit $$status

# The published report again, from the study's own store (experiments/STUDY.yaml's tracking.uri):
# rewrites results/STUDY.
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

# The dashboard on `make`'s own store (LOCAL/STUDY) instead of the published one.
ui-local: install
	$(BIN)/python -m prepbench.ui $(STUDY) tracking.uri=$(HERE_URI) --host 127.0.0.1 --port $(PORT)
