# Two commands: `make demo` (set up and run the demo) and `make test` (set up and run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

demo: $(VENV)/.demo
	$(BIN)/tinygrad-bn demo

test: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

bench: $(VENV)/.test
	$(BIN)/python -m bench

$(VENV)/.demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[data]"
	touch $@

$(VENV)/.test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[dev,oracle]"
	touch $@ $(VENV)/.demo

clean:
	rm -rf $(VENV) out
