# Mamori — developer and operator entry points. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: help dev run test test-postgres check bench system-deps clean

help:
	@echo "make run            set up and run Mamori on SQLite (prints the admin's one-time password)"
	@echo "make test           set up and run the test suite (SQLite, or PostgreSQL if MAMORI_TEST_DATABASE_URL is set)"
	@echo "make check          ruff format + ruff lint + mypy + import-linter"
	@echo "make bench          run the benchmarks and print their tables"

# Debian packages: libmagic (content sniffing) and gpg (encrypted reports) at run time; swaks
# (a real mail client), dovecot (a real IMAP server) and gettext (message catalogs) for the tests.
DEBIAN_PACKAGES := libmagic1 gpg swaks dovecot-imapd gettext
system-deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Please install: sudo apt-get install $$missing"; exit 1; fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

dev: system-deps $(STAMP)

run: dev
	$(BIN)/mamori bootstrap --if-needed
	$(BIN)/mamori run

test: dev
	$(BIN)/pytest

check: dev
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	MAMORI_DEV=1 MAMORI_DATA_DIR=$$(mktemp -d) $(BIN)/mypy
	$(BIN)/lint-imports

bench: dev
	MAMORI_BENCH_DATABASE_URL=$${MAMORI_BENCH_DATABASE_URL-postgresql://postgres@127.0.0.1:5432/test} $(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
