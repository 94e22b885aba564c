# The two commands of the README: `make run` and `make test`.
# Both create or reuse the virtual environment .venv and install into it.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench evaluate

# A .venv that cannot run (half made, or from a Python this project does not support)
# is made again rather than reused.
$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' 2>/dev/null \
	  || { echo "setting up $(VENV) (python3: $$(python3 --version 2>&1))"; rm -rf $(VENV); python3 -m venv $(VENV); }
	@echo "installing poembot and its dependencies into $(VENV) (the first time takes a few minutes)..."
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -e '.[dev]'
	@$(PY) -c 'import bot, model, torch' && touch $(STAMP) && echo "$(VENV) is ready"

run: $(STAMP)
	$(PY) -m bot

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

bench: $(STAMP)
	$(PY) bench/train_speed.py

evaluate: $(STAMP)
	$(PY) -m model evaluate --n 1000
