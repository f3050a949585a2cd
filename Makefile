# Two entry points that do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# system packages (apt-get) as root, else through sudo when it needs no password; failure is tolerated
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo "sudo -n")
# optional Azure emulator (npm) for the az:// tests; moto (the S3 server of the tests) comes with the test extra
AZURITE := .cache/azurite

.PHONY: demo test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	@# the report's browser test drives the system's Chromium; without root or apt it skips, saying why
	command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }) || \
		echo "note: chromium not installed; the report's browser test will skip"
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	$(BIN)/python -m marketlake.features.warmup
	-command -v npm >/dev/null && npm install -s --no-audit --no-fund --prefix $(AZURITE) azurite >/dev/null 2>&1 \
		|| echo "azurite not installed (npm missing or offline): the az:// tests will skip"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/marketlake demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --timeout 300 --durations=15

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) warehouse .pytest_cache .cache
