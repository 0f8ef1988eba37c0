# spelunker: the two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo test docs bench clean

# Create the environment once; re-install when the package metadata changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs,lightkurve]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/python -m spelunker.demo --output demo_output

# ruff first (the rules are in pyproject.toml; any finding fails), then the tests on
# every core this process may use (pytest-xdist; a test module stays on one worker, so its
# module-scoped fixtures are built once; `make test TEST_WORKERS=1` for one process), the
# slowest 25 listed.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)

test: venv
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

docs: venv
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

# Each script prints its own tables; those measuring an issue-23 figure also write
# benchmarks/results/<script>.json, and summary.py ends with the one table of them all.
# BENCH_BASE: another checkout (the landed main, a worktree of 2f914da) timed in the same
# run as the baseline of bench_startup, bench_pipeline and bench_survey; default the
# worktree /work/base-2f914da if it exists; empty (BENCH_BASE=): no baseline (null).
BENCH_BASE ?= $(wildcard /work/base-2f914da)
bench: venv
	rm -f benchmarks/results/*.json
	$(BIN)/python benchmarks/bench_startup.py --base '$(BENCH_BASE)'
	$(BIN)/python benchmarks/bench_read.py
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_pipeline.py --double $(if $(BENCH_BASE),--baseline $(BENCH_BASE))
	$(BIN)/python benchmarks/bench_dependencies.py
	$(BIN)/python benchmarks/bench_science.py
	$(BIN)/python benchmarks/bench_times.py
	$(BIN)/python benchmarks/bench_refine.py
	$(BIN)/python benchmarks/bench_variability.py
	$(BIN)/python benchmarks/bench_survey.py --overhead --repeat 3 $(if $(BENCH_BASE),--base $(BENCH_BASE))
	$(BIN)/python benchmarks/summary.py

clean:
	rm -rf $(VENV) docs/_build demo_output .pytest_cache .hypothesis .ruff_cache benchmarks/results
