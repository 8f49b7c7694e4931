# Every target installs what it needs into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit docs bench clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,docs,postgres]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/hospital.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) browser
	$(BIN)/pytest -q

# Debian's chromium for the admin page's browser tests, installed when missing (they skip,
# saying why, when it cannot be).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		>/dev/null 2>&1 || echo "chromium is not installed: the browser tests will skip"


# The documentation site, into site/ (git-ignored); --strict: every warning is an error.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

test: lint typecheck unit docs

# make bench SCALE=S|M|L: every system side by side (benchmarks/run.py), then the tables of
# docs/performance.md and the plots in docs/img from benchmarks/results/*.json.
SCALE ?= M
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,dev,postgres,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run --scale=$(SCALE)
	$(BIN)/python -m benchmarks.report --update docs/performance.md
	$(BIN)/python -m benchmarks.plot --out docs/img

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .benchmarks build dist site
