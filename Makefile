# Two commands for a new machine: `make run` (serve on SQLite) and `make test` (everything).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install run test unit browser screenshots lint format typecheck bench bench-quick clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the service with its dev tools

run: $(STAMP) ## serve the API on http://127.0.0.1:8000 (SQLite under ./var, no Kafka)
	$(BIN)/crm serve --print-admin-token

test: $(STAMP) ## lint, type-check and run the whole suite (starts PostgreSQL and Tansu itself)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

unit: $(STAMP) ## the in-memory unit tests only (milliseconds, no servers)
	$(BIN)/pytest tests/unit

browser: $(STAMP) ## the console's tests in headless Chromium (needs chromium, chromium-driver)
	$(BIN)/pytest tests/browser

screenshots: $(STAMP) ## the browser tests, also writing the console's screenshots to docs/console
	CONSOLE_SCREENSHOTS=docs/console $(BIN)/pytest tests/browser

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy over the packages
	$(BIN)/mypy

bench: $(STAMP) ## benchmarks vs the eventsourcing library, full sizes (~15 min; bench/results/)
	$(BIN)/python -m bench

bench-quick: $(STAMP) ## the same with small sizes (about 4 min), for development
	$(BIN)/python -m bench --quick

clean: ## remove the virtualenv and caches (keeps ./var)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
