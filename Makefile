# The two commands are `make run` and `make test`; both install what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
export PYTHONPATH := $(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1
# A pipe fails when any command in it fails (a bench that crashes after printing, say).
SHELL := bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: install run test lint typecheck unit integration api fuzz fuzz-then-api packaging browser \
	chromium package bench bench-smoke schemas clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m local.run

# The fast checks first; then the suites that run stacks or servers side by side (two jobs:
# the in-process moto suites overlap the HTTP suites, which mostly wait on their stacks).
# Each suite's output is printed whole when it ends; any failure fails `make test`.
# The suites start their own stacks: an exported SERVICEDESK_TEST_STACK (a `make run` stack
# for debugging one test) must not point them elsewhere.
test: install lint typecheck unit bench-smoke
	env -u SERVICEDESK_TEST_STACK $(MAKE) --no-print-directory -j2 --output-sync=target \
		integration fuzz-then-api packaging browser

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

api: install
	$(BIN)/pytest tests/api

# Schemathesis against the served OpenAPI document (its own local stack; ~1-2 minutes).
fuzz: install
	$(BIN)/pytest tests/fuzz

# `make test`: one session, one stack: the API suites pass on a stack that has just served
# the fuzzer (and the stack starts once).
fuzz-then-api: install
	$(BIN)/pytest tests/fuzz tests/api

packaging: install
	$(BIN)/pytest tests/packaging

browser: install chromium
	$(BIN)/pytest tests/browser

# The browser tests drive Debian's Chromium and its WebDriver; a clean CI machine (root) has
# neither, so install them. A failed install fails the target, so `make test` can never pass
# without the browser tests having run.
chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "Installing the Debian packages chromium and chromium-driver for tests/browser"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q || echo "apt-get update failed; trying the install anyway"; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	fi
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver \
		|| { echo "chromium or chromedriver missing in /usr/bin after the install" >&2; exit 1; }

package: install
	$(BIN)/python -m local.package build

# Figures, not pass/fail (bench/RESULTS.md); the app's JSON log lines (stdout) are left out,
# stderr is shown, and a script that fails fails the target.
bench: install
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/deployed_cold_start.py | grep -v '^{"level'
	$(BIN)/python bench/calls_per_request.py | grep -v '^{"level'
	$(BIN)/python bench/sms_segments.py
	$(BIN)/python bench/cost_per_life.py | grep -v '^{"level'
	$(BIN)/python bench/scale.py | grep -v '^{"level'
	$(BIN)/python bench/local_scale.py

# `make test`: the quick bench scripts still run (a bench broken by a code change fails here,
# not weeks later); the others take minutes and are type-checked only.
bench-smoke: install
	$(BIN)/python bench/calls_per_request.py | grep -v '^{"level'
	$(BIN)/python bench/sms_segments.py

# Regenerate the public copies of the schemas and the OpenAPI document for client teams.
schemas: install
	$(BIN)/python -m local.publish_schemas

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
