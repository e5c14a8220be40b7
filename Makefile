# Two commands: `make demo` (set up and run the demo) and `make test` (set up and run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench docs docs-serve clean vendor-js

demo: $(VENV)/.demo
	$(BIN)/tinygrad-bn demo

test: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

bench: $(VENV)/.test
	$(BIN)/python -m bench

docs: $(VENV)/.docs   # the site, into site/ (strict: a warning, broken link or failing notebook cell fails it)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(VENV)/.docs   # the site at http://127.0.0.1:8000, rebuilt on every change
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

$(VENV)/.docs: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[docs,data]"
	touch $@

$(VENV)/.demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[data]"
	touch $@

$(VENV)/.test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[dev,oracle]"
	touch $@ $(VENV)/.demo $(VENV)/.docs

# Update the explorer's vendored Graphviz (WebAssembly) from the npm registry: make vendor-js [GRAPHVIZ_JS=1.29.2]
vendor-js:
	bash viz/static/vendor.sh $(GRAPHVIZ_JS)

clean:
	rm -rf $(VENV) out site
