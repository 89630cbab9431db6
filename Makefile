# Two entry points: `make demo` (set up, then the quick-start run) and `make test`
# (set up, then lint and the whole test suite). Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test lint clean

setup: $(STAMP)

# torch is installed first and pinned: an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	@echo "setup: creating $(VENV) (a few minutes the first time; later runs skip this)"
	$(PYTHON) -m venv $(VENV)
	@echo "setup: [1/2] torch 2.13.0"
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	@echo "setup: [2/2] treenn (editable) with dgl, nltk, numpy, tqdm and the dev extra"
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)
	@echo "setup: done"

demo: $(STAMP)
	$(BIN)/python train.py

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info
