# Two commands do all set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint docs docs-cli clean i18n

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/posync demo --dir demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check etl validators sample_data tests bench docs
	$(BIN)/mypy  # strict, on etl validators sample_data bench docs ([tool.mypy] in pyproject.toml)

# The documentation site, docs/ -> site/ (MkDocs, warnings are errors). tests/docs runs every example in it.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

# Regenerate the parts of docs/ made from the code: the CLI reference, the schema and catalog tables,
# the status schema, the tests that prove each guarantee. Then `python -m docs.examples --update` for outputs.
docs-cli: $(STAMP)
	$(BIN)/python -m docs.gen

# Catalogs: extract the English msgids, merge them into each language's .po, compile the .mo files posync ships.
# Translate the new or fuzzy entries of etl/locale/es/LC_MESSAGES/posync.po, then run it again.
LOCALES := etl/locale
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project posync \
	  --msgid-bugs-address "" --copyright-holder "" -k N_ -k NP_:1c,2 -k Said -k Nn_:1,2 -o $(LOCALES)/posync.pot .
	$(BIN)/pybabel update -i $(LOCALES)/posync.pot -d $(LOCALES) -D posync --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile --statistics -d $(LOCALES) -D posync

bench: $(STAMP)
	@$(BIN)/python -c "import dlt, pyinstrument" 2>/dev/null || $(BIN)/pip install --quiet -e '.[dev,bench]'
	@command -v sqldiff >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq sqlite3-tools >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq sqlite3-tools >/dev/null; } || true; }
	@command -v sqldiff >/dev/null 2>&1 || echo "sqldiff not found (Debian package sqlite3-tools): the catalog case will be marked pending"
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) site demo posync-data posync.duckdb posync.duckdb.lock posync.duckdb.lock.json
