# The two commands of the README: `make run` and `make test`.
# Each creates .venv and installs what is missing (Python deps, Kafka jars).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JARS   := infra/target/lib/.fetched

.PHONY: run test bench lint install clean-data

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

test: install lint
	$(BIN)/python -m pytest tests

lint: install
	$(BIN)/ruff check ledger api consumers infra tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench.run

clean-data:
	rm -rf .ledger
