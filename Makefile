# Everything a fresh machine needs: `make demo` and `make test` create the virtual environment themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck imports unit conformance bench lock clean venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The main job on the embedded default: a local inference server, then model-training-pipeline for both
# built-in models on synthetic data (train, gate, deploy, verify) with the local Tekton engine.
demo: $(STAMP)
	$(BIN)/retrain demo --home .retrain/demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck imports unit

bench: $(STAMP)
	$(BIN)/python bench/engine_overhead.py

lock: $(STAMP)
	@echo "# Pinned versions of every dependency (runtime and dev). Regenerate with \`make lock\`." > constraints.txt
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' >> constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
