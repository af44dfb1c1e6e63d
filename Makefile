# CreditScorer: the two commands a newcomer needs are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve train test lint format bench workbook clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)  ## install, train the models if there are none, and serve on 127.0.0.1:5000
	$(BIN)/python -m server

train: $(STAMP)
	$(BIN)/python -m training

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(STAMP) lint  ## install, lint, and run every test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/bench_api.py

workbook: $(STAMP)
	$(BIN)/python -m excel.build

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .hypothesis
