PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench backtest lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python app.py $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

# the five strategies over the bundled simulated night; the report in artifacts/backtest/
backtest: $(STAMP)
	$(BIN)/flowboard backtest recordings/sim-night.rec.gz \
		--strategies sharp_line,momentum,ev_multi,mean_reversion,correlation \
		--report artifacts/backtest $(ARGS)

# Each check stops the target when it fails. The import contracts run through
# tools/lint_imports.py, which gives lint-imports the top-level modules it cannot take directly.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python tools/lint_imports.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache artifacts
