# `make run` and `make test` do their own set-up: a .venv beside this file, the package installed into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INDEX ?= index

.PHONY: run test build bench bench-quick lint clean opensearch opensearch-stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	@test -f $(INDEX)/CURRENT || $(BIN)/zhsearch build --index $(INDEX)
	$(BIN)/zhsearch serve --index $(INDEX)

build: $(VENV)/.installed
	$(BIN)/zhsearch build --index $(INDEX)

test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check search web zhsearch tests bench

# The main run rewrites docs/benchmarks.md; the feature benchmarks after it each rewrite their
# own marked section of it (suggestions use the index the regional run builds).
bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench
	$(BIN)/python -m bench.reposts --sweep --write
	$(BIN)/python -m bench.regional --write
	$(BIN)/python -m bench.suggest --write

bench-quick: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench --quick

# A local three-node OpenSearch cluster (fetched through Maven on first use); it prints the
# ZHSEARCH_OPENSEARCH_URL to use. `make opensearch-stop` stops it by its process ids.
opensearch:
	$(PYTHON) tests/opensearch_cluster.py start

opensearch-stop:
	$(PYTHON) tests/opensearch_cluster.py stop

clean:
	rm -rf $(VENV) .pytest_cache
