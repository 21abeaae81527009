# optiscope: `make demo` (the main job) and `make test` (every test); each builds its own venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Runtime install (no test extras: no torch needed to use optiscope).
$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# Test install: pytest, hypothesis, ruff and torch (CPU) as the reference implementation.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed-runtime

demo: $(VENV)/.installed-runtime
	$(BIN)/optiscope seed --out $(OUT) --html --animate

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks

# The browser tests drive Debian's chromium (apt, as root on CI), never a Playwright download.
test: $(VENV)/.installed-test lint
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	OPTISCOPE_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache .hypothesis
