# Every target only calls tools; anything longer lives in ops/.
VENV ?= .venv
export VENV

.PHONY: install services browser run test conformance bench lint

install:
	bash ops/bootstrap.sh

services:
	bash ops/dev-services.sh

browser:
	bash ops/browser.sh

run: install services
	bash ops/run.sh

test: install services browser
	bash ops/test.sh

conformance: install services
	bash ops/conformance.sh

bench: install services
	bash ops/bench.sh

lint: install
	$(VENV)/bin/ruff check src workers ops tests
	$(VENV)/bin/ruff format --check src workers ops tests
	$(VENV)/bin/mypy
