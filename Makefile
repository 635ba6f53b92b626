# The two commands of the README: `make run` and `make test`.
# Each creates .venv and installs what is missing (Python deps, Kafka jars).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JARS   := infra/target/lib/.fetched

CHROMIUM ?= /usr/bin/chromium

.PHONY: run test bench lint install clean-data browser console-messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(JARS): infra/pom.xml
	@command -v java >/dev/null || { echo "Java 17+ is required to run Apache Kafka (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is required to fetch the Kafka jars (apt-get install maven)"; exit 1; }
	mvn -q -B -f infra/pom.xml dependency:copy-dependencies
	touch $@

install: $(STAMP) $(JARS)

run: install
	$(BIN)/ledger up

# The console's browser tests drive Debian's chromium through Playwright: no browser download.
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the console's browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  else sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; fi; }

test: install lint browser
	$(BIN)/python -m pytest tests

lint: install
	$(BIN)/ruff check ledger api consumers infra tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench.run

# After changing a message of the console: extract, then merge into both catalogues.
console-messages: install
	$(BIN)/pybabel extract -F api/console/babel.cfg -o $(VENV)/console.pot --no-location \
	  --sort-output --project "generative-welfare-ledger console" .
	$(BIN)/pybabel update -i $(VENV)/console.pot -d api/console/locale -D console --width 100 \
	  --ignore-obsolete --ignore-pot-creation-date

clean-data:
	rm -rf .ledger
