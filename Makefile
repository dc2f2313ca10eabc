# Every target only calls tools; anything longer lives in ops/.
VENV ?= .venv
export VENV

.PHONY: install services run test conformance bench lint

install:
	bash ops/bootstrap.sh

services:
	bash ops/dev-services.sh

run: install services
	bash ops/run.sh

test: install services
	$(VENV)/bin/pytest -q

conformance: install services
	bash ops/conformance.sh

bench: install services
	bash ops/bench.sh

lint: install
	$(VENV)/bin/ruff check src workers ops tests
	$(VENV)/bin/mypy
