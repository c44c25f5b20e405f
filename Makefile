# Two commands do all the set-up on a fresh machine:
#   make demo   -> venv + install + reconstruct the built-in example data
#   make test   -> venv + install + run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU wheel that lies on this machine's disk
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m tomoinpaint.demo --out demo-output

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check tomoinpaint tests benchmarks pipelines examples
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/quality_baselines.py

clean:
	rm -rf $(VENV) demo-output
