# The two commands are `make run` and `make test`; both install what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
export PYTHONPATH := $(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install run test lint typecheck unit integration api fuzz packaging package bench schemas clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m local.run

test: install lint typecheck unit integration api fuzz packaging

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest tests/unit

integration:
	$(BIN)/pytest tests/integration

api:
	$(BIN)/pytest tests/api

# Schemathesis against the served OpenAPI document (its own local stack; ~1-2 minutes).
fuzz:
	$(BIN)/pytest tests/fuzz

packaging:
	$(BIN)/pytest tests/packaging

package: install
	$(BIN)/python -m local.package build

bench: install
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/calls_per_request.py 2>/dev/null | grep -v '^{"level'
	$(BIN)/python bench/sms_segments.py
	$(BIN)/python bench/cost_per_life.py 2>/dev/null | grep -v '^{"level'
	$(BIN)/python bench/scale.py 2>/dev/null | grep -v '^{"level'

# Regenerate the public copies of the schemas and the OpenAPI document for client teams.
schemas: install
	$(BIN)/python -m local.publish_schemas

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
