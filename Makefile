# Entry points named in README.md. `make train` and `make test` work on a fresh machine.
PYTHON ?= python3
PRESET ?= memgym/RememberEasy-v0

.PHONY: install train test lint bench

install:
	@# The CPU build of torch goes in first, so the range in pyproject.toml keeps it
	@# (a GPU user's own torch build is kept the same way).
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install -e ".[dev]"

train: install
	$(PYTHON) -m agents.cli demo $(PRESET) --force

test: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest -n 2 --dist loadgroup --durations=15

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

bench:
	$(PYTHON) benchmarks/envs.py
