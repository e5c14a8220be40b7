# Two commands: `make demo` (set up and run the demo) and `make test` (set up and run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The browser tests' Chromium: Debian's, else Playwright's own download (how each is installed, overridable)
CHROMIUM ?= /usr/bin/chromium
APT_INSTALL ?= apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
PLAYWRIGHT_INSTALL ?= $(BIN)/python -m playwright install chromium

.PHONY: demo test browser lint bench docs docs-serve clean vendor-js

demo: $(VENV)/.demo
	$(BIN)/tinygrad-bn demo

test: $(VENV)/.test browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

# A headless Chromium for the browser tests (they open the explorer, the report and the docs site offline):
# Debian's chromium if present or installable (as root, with apt-get), else Playwright's own download, else one
# line saying which command to run.
browser: $(VENV)/.test
	@[ -x $(CHROMIUM) ] \
	|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo "make: installing chromium with apt-get" \
	     && ( $(APT_INSTALL) ) >/dev/null 2>&1 && [ -x $(CHROMIUM) ]; } \
	|| ( $(PLAYWRIGHT_INSTALL) ) >/dev/null 2>&1 \
	|| { echo "make test: the browser tests need Chromium; run 'sudo apt-get install chromium' or" \
	          "'$(PLAYWRIGHT_INSTALL)', then make test again" >&2; exit 1; }

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
