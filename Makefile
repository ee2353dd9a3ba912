# flexbridge — the two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# make test: pytest processes (pytest-xdist), each with its own broker and sandbox (tests/scheduling.py)
TEST_PROCESSES ?= 2

.PHONY: help demo test test-unit lint bench chaos venv clean

## List the targets with what each does.
help:
	@awk '/^## /{text=(text ? text " " : "") substr($$0, 4); next} /^[a-z][a-z-]*:/{if (text) printf "  %-10s %s\n", substr($$1, 1, length($$1)-1), text; text=""} !/^## /{text=""}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Create .venv and install flexbridge with its dev tools (again when pyproject.toml changes).
venv: $(STAMP)

## Run broker + sandbox + worker on this machine, drive traffic through every flow, reconcile.
demo: $(STAMP)
	$(BIN)/flexbridge demo

## The full test suite: unit tests and integration tests on the embedded broker, sandbox and SFTP.
test: $(STAMP)
	bash tests/system-packages.sh
	$(BIN)/python -m pytest -n $(TEST_PROCESSES)

## The unit tests only (no broker, sandbox or SFTP server); about 20 s.
test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not integration"

## Benchmarks against same-run baselines; writes bench/results/latest.{json,md} and charts. BENCH="--cpu-hog": one core kept busy.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || bash tests/system-packages.sh
	$(BIN)/python -m bench $(BENCH)

## Fault-injection run with a checker: faults, SIGKILLs and rebalances under load; non-zero on a violation.
## CHAOS="--mode rebalance" (a worker joins or leaves every ~4 s), "--mode rolling" (three workers
## restarted one at a time), "--cpu-hog" (one core kept busy beside the run), "--merchants" (three merchants).
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos $(CHAOS)

## ruff check, ruff format --check and mypy (strict) over the tree.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Remove the venv, the demo, bench and chaos work directories and the tool caches.
clean:
	rm -rf $(VENV) .demo .bench .chaos .pytest_cache .mypy_cache .ruff_cache *.egg-info
