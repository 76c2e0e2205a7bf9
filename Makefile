# Set-up needs only python3 (3.11+) and make: uv comes from PyPI into .tools/, the app's
# dependencies from uv.lock into .venv/. scripts/system-deps provides (as root on Debian) or
# names what the system lacks: python3-venv for this, the tests' nginx, chromium, Redis...
PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SYSTEM_DEPS = PYTHON=$(PYTHON) bash scripts/system-deps

.PHONY: run test fuzz lint migrate install system-deps clean bench bench-soak bench-smoke
# The fuzz run's own PostgreSQL database (emptied by the run); override to use another.
FUZZ_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/conduit_fuzz

$(UV):
	$(SYSTEM_DEPS) install
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==0.13.8"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	touch $@

install: $(VENV)/.synced

migrate: install
	$(BIN)/alembic upgrade head

run: migrate
	$(BIN)/hypercorn --config hypercorn.toml --bind $(HOST):$(PORT) asgi:app

# What the tests drive besides Python: nginx, tini, wrk, chromium, Redis (see the script).
system-deps:
	$(SYSTEM_DEPS) test

test: system-deps install
	$(BIN)/pytest $(PYTEST_ARGS)

# Schemathesis against a live server (tests/fuzz): a few minutes; reports in test-output/fuzz/.
fuzz: install
	TEST_DATABASE_URL=$(FUZZ_DATABASE_URL) $(BIN)/pytest -m fuzz tests/fuzz $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/shellcheck scripts/system-deps .ci/run

# The load bench (README, "Performance"): PostgreSQL and Debian's wrk; BENCH_ARGS adds options.
bench: install
	$(BIN)/python -m bench run $(BENCH_ARGS)

bench-soak: install
	$(BIN)/python -m bench soak $(BENCH_ARGS)

bench-smoke: install
	$(BIN)/python -m bench smoke $(BENCH_ARGS)

clean:
	rm -rf .tools $(VENV) .mypy_cache .ruff_cache .pytest_cache
