# Qunyun — `make demo` and `make test` work on a fresh clone; each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(shell cksum pyproject.toml | cut -d' ' -f1)
RUNTIME := $(VENV)/.runtime-$(STAMP)
INSTALLED := $(VENV)/.installed-$(STAMP)

.PHONY: setup demo test lint format bench clean

# `make demo` needs only what Qunyun runs on; tests and linters add the dev extras on top, and
# the spark extra (the Spark parity tests).
$(RUNTIME): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@rm -f $(VENV)/.runtime-*
	@touch $@

$(INSTALLED): $(RUNTIME)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,spark]'
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(INSTALLED)

demo: $(RUNTIME)
	$(BIN)/qunyun demo

# Two worker processes (one per core); a test module stays on one worker, so its module and
# session fixtures (the Spark session, a demo tenant) are built once there.
test: $(INSTALLED)
	$(BIN)/pytest -n 2 --dist loadfile --durations=20

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(INSTALLED)
	$(BIN)/python benchmarks/import_stores.py --stores 1000000 --runs 1
	$(BIN)/python benchmarks/plan_homogeneity.py --stores 15000
	$(BIN)/python benchmarks/plan_churn.py --stores 200000 --reps 1000
	$(BIN)/python benchmarks/plan_apply.py --stores 200000
	$(BIN)/python benchmarks/events_group_daily.py --events 10000000
	$(BIN)/python benchmarks/analytics_engines.py --events 1000000 --runs 3
	$(BIN)/python benchmarks/redpacket_fairness.py --packets 1000000
	$(BIN)/python benchmarks/activation_http.py --seconds 8
	$(BIN)/python benchmarks/web_groups.py --stores 200000 --events 1000000
	$(BIN)/python benchmarks/web_growth.py --runs 5

clean:
	rm -rf $(VENV) qunyun-data .pytest_cache .mypy_cache .ruff_cache
