# The README's two commands: `make quickstart` and `make test`. Both create .venv when needed.
# Versions come from constraints.txt (tested together; torch pinned to the 2.13.0 CPU build).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# the reference implementation for the parity tests: its metric modules need only these, not TensorFlow
ORACLE := disentanglement-lib==1.5 gin-config==0.5.0 absl-py==2.5.1 six==1.17.0

.PHONY: quickstart test install install-test browser parity bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PIP) install -q -c constraints.txt -e '.[test]'
	$(PIP) install -q --no-deps $(ORACLE)
	touch $(TEST_STAMP)

install: $(STAMP)

install-test: $(TEST_STAMP)

# headless Chromium for the report test (Debian's package; needs root, skipped otherwise)
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium not installed: the report browser test will be skipped"; }

quickstart: $(STAMP)
	$(BIN)/disentkit quickstart

test: $(TEST_STAMP) browser
	$(BIN)/python -m pytest -q tests

parity: $(TEST_STAMP)
	$(BIN)/python -m pytest -q tests/parity

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/data_throughput.py
	$(BIN)/python benchmarks/metrics_speed.py
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/study_overhead.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
