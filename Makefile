# CreditScorer: the two commands a newcomer needs are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# uv installs the ~90 wheels in a fraction of pip's time (docs/operations.md#first-start);
# it is one wheel from PyPI, put into the project's own virtual environment.
UV := $(BIN)/uv pip install --python $(BIN)/python

.PHONY: install serve train reference-models test lint format bench workbook clean

$(BIN)/uv:
	@echo "make: creating $(VENV) (on Debian or Ubuntu this needs: apt-get install python3-venv)"
	$(PYTHON) -m venv $(VENV)
	@echo "make: installing uv, the installer that fetches the dependencies"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(STAMP): pyproject.toml | $(BIN)/uv
	@echo "make: installing CreditScorer and what it runs on"
	$(UV) -e .
	touch $(STAMP)

$(DEV_STAMP): pyproject.toml $(STAMP)
	@echo "make: installing the test and workbook tools"
	$(UV) -e '.[dev]'
	touch $(DEV_STAMP)

install: $(DEV_STAMP)

# The reference models (models/, trained with the quick grids by `make reference-models`)
# are copied into an empty store, so the first start serves at once; their sha256 are
# checked at load as for any model.
instance/models:
	@echo "make: copying the reference models from models/ into instance/models (make train retrains them)"
	mkdir -p instance
	cp -R models instance/models

serve: $(STAMP) | instance/models  ## install, copy the reference models if there are none, and serve on 127.0.0.1:5000
	$(BIN)/python -m server

train: $(STAMP)  ## retrain the four built-in models (full grids) into instance/models
	$(BIN)/python -m training

reference-models: $(STAMP)  ## retrain the shipped reference models in models/ (quick grids)
	rm -rf models
	$(BIN)/python -m training --quick --out models

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(DEV_STAMP) lint  ## install, lint, and run every test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python bench/bench_api.py

workbook: $(DEV_STAMP)
	$(BIN)/python -m excel.build

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .hypothesis
