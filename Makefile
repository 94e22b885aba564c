# The two commands of the README: `make run` and `make test`.
# Both create or reuse the virtual environment .venv and install into it.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch: the CPU build by default (a 1.2 GB venv; PyPI's default Linux build pulls 2.7 GB of
# CUDA packages). `make run TORCH=gpu` installs PyPI's build instead. A torch wheel this
# machine already offers (a local wheel directory or index) is used as it is.
TORCH ?= cpu
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_PIN := torch==2.13.0

.PHONY: run test lint format bench evaluate lock

# A .venv that cannot run (half made, or from a Python this project does not support)
# is made again rather than reused.
$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' 2>/dev/null \
	  || { echo "setting up $(VENV) (python3: $$(python3 --version 2>&1))"; rm -rf $(VENV); python3 -m venv $(VENV); }
	@echo "installing poembot and its dependencies into $(VENV) (the first time takes a few minutes)..."
	@if [ "$(TORCH)" = cpu ] && ! $(PY) -m pip install --dry-run --no-deps --no-index -q '$(TORCH_PIN)' >/dev/null 2>&1 \
	  && ! $(PY) -c 'import torch' 2>/dev/null; then \
	  echo "installing the CPU build of torch from $(TORCH_CPU_INDEX) (TORCH=gpu for PyPI's CUDA build)"; \
	  $(PY) -m pip install --disable-pip-version-check '$(TORCH_PIN)' --index-url $(TORCH_CPU_INDEX) \
	    --extra-index-url https://pypi.org/simple; fi
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -e '.[worker,train,dev]'
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

# The images' lock files, every file pinned by its hash (the Dockerfile installs them with
# --require-hashes): requirements/bot.txt from pyproject.toml's dependencies, and
# requirements/worker.txt from requirements/worker.in (torch's CPU build from PyTorch's own
# index). Run after changing a pin; needs uv (`pip install uv` anywhere, not in .venv).
UV ?= uv
TORCH_FIND_LINKS ?= https://download.pytorch.org/whl/cpu/torch/
LOCK := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--custom-compile-command "make lock" --quiet
lock:
	$(UV) pip compile pyproject.toml $(LOCK) -o requirements/bot.txt
	$(UV) pip compile requirements/worker.in $(LOCK) --find-links $(TORCH_FIND_LINKS) -o requirements/worker.txt
