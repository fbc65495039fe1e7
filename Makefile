# tallylog — the two commands a new machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export TALLYLOG_HOME ?= $(CURDIR)/var

.PHONY: install messages run lint test test-fast test-deps bench clean

# The virtual environment, rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(VENV)/.installed messages

# Compile the translations (.po → .mo) with the project's own build, no gettext needed.
messages: $(VENV)/.installed
	@$(BIN)/python -m tallylog.web.messages

# Sets up the home (database, signing key, default campaign) and serves the site with its
# sequencer on http://127.0.0.1:$(PORT)/ .
run: install
	$(BIN)/tallylog init
	$(BIN)/tallylog serve --port $(PORT)

test-deps:
	@bash scripts/test-deps.sh

# The static checks (docs/architecture.md, "The lint gate"): the import layers
# (import-linter), ruff's rule set and mypy (tallylog.tlog strict), all configured in
# pyproject.toml.
lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check tallylog tests bench
	$(BIN)/mypy

# The static checks, then the whole suite on the embedded SQLite database and, on a
# throwaway PostgreSQL server on loopback, every test that touches the database; the two
# passes side by side (scripts/test-both.sh; TALLYLOG_TEST_SERIAL=1 one after the other).
test: install lint test-deps
	BIN=$(BIN) bash scripts/test-both.sh

# The inner loop: every test that starts no subprocess (no `tallylog serve` or command, nginx,
# Go, Chromium or PostgreSQL: marker `server`) and is not `slow`, on SQLite; under 2 minutes.
test-fast: install
	env -u DATABASE_URL $(BIN)/pytest -q -p no:cacheprovider -m "not server and not slow"

bench: install test-deps
	@bash scripts/test-deps.sh --bench
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
