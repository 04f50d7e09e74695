# livemer: `make demo` sets everything up and runs the main job; `make test` runs the tests.
# Both share the `install` step: system packages, a virtual environment, livemer and its locked dependencies.
# Set-up uses uv when it is on PATH (or when pip can fetch it into the venv), and plain pip otherwise;
# both install the same pinned versions from requirements/*.txt (regenerate them with `make lock`).

VENV    ?= .venv
# An interpreter that runs: the name on PATH, else pyenv's newest build of that version (pyenv's shims for a
# version that is installed but not selected exist and fail).
find_python = $(shell for p in $(1) $$(ls -d $(HOME)/.pyenv/versions/$(2).*/bin/$(1) 2>/dev/null | sort -V | tail -1); do \
  $$p -c '' >/dev/null 2>&1 && { command -v $$p; break; }; done)
ifndef PYTHON
PYTHON  := $(call find_python,python3.11,3.11)
endif
PY      := $(VENV)/bin/python
# all.txt: the core plus the train, pyfeat, test and dev extras; core.txt: the lean core (no torch) plus test.
LOCK    ?= requirements/all.txt
STAMP   := $(VENV)/.livemer-installed
UV_VERSION := 0.13.9
# USE_UV=0 installs with pip alone (the fallback).
USE_UV  ?= 1
APT_PKGS := ffmpeg libportaudio2 espeak-ng pulseaudio xvfb xdotool
SUDO    := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
OUT     ?= livemer-out
PYTEST  := HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider
# The smoke run: the lean core on another Python (CI uses 3.13), tests marked `smoke`.
ifndef SMOKE_PYTHON
SMOKE_PYTHON := $(call find_python,python3.13,3.13)
endif
SMOKE_VENV   ?= .venv-smoke
SMOKE_TESTS  := tests/test_cli.py tests/test_cmd_file.py

UV := $(shell command -v uv || echo $(VENV)/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: install system-deps demo test test-fast smoke lint lock bench checkpoint clean

install: $(STAMP)

system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml $(LOCK) | system-deps
	@[ -n "$(PYTHON)" ] && $(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2]' 2>/dev/null || \
	  { echo "livemer needs Python 3.11, 3.12 or 3.13 (none found: make PYTHON=/path/to/python3.12 ...)"; exit 1; }
	@set -e; uv="$$(command -v uv || true)"; \
	if [ "$(USE_UV)" = 0 ]; then \
	  [ -x $(PY) ] || $(PYTHON) -m venv $(VENV); uv=""; \
	elif [ -n "$$uv" ]; then \
	  [ -x $(PY) ] || "$$uv" venv -q --seed --python $(PYTHON) $(VENV); \
	else \
	  [ -x $(PY) ] || $(PYTHON) -m venv --without-pip $(VENV); \
	  if $(PYTHON) -m pip --python $(PY) install -q "uv==$(UV_VERSION)" >/dev/null 2>&1; then \
	    uv=$(VENV)/bin/uv; "$$uv" pip install -q --python $(PY) pip; \
	  else $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip -q; fi; \
	fi; \
	if [ -n "$$uv" ]; then \
	  echo "installing $(LOCK) with uv"; \
	  "$$uv" pip install -q --python $(PY) -r $(LOCK); \
	  "$$uv" pip install -q --python $(PY) --no-deps -e .; \
	else \
	  echo "uv unavailable: installing $(LOCK) with pip"; \
	  $(PY) -m pip install -q -r $(LOCK); \
	  $(PY) -m pip install -q --no-deps -e .; \
	fi
	touch $(STAMP)

demo: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/livemer demo --out $(OUT)

test: install
	$(PYTEST) tests

# Everything but the tests marked slow (under 2 minutes on 2 cores).
test-fast: install
	$(PYTEST) -m "not slow" tests

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The lean core (no torch, no py-feat) on SMOKE_PYTHON, and the tests marked `smoke` on it.
smoke:
	@[ -n "$(SMOKE_PYTHON)" ] || { echo "smoke run SKIPPED: no Python 3.13 found (make smoke SMOKE_PYTHON=...)"; exit 0; }; \
	$(MAKE) --no-print-directory install VENV=$(SMOKE_VENV) PYTHON=$(SMOKE_PYTHON) LOCK=requirements/core.txt && \
	$(SMOKE_VENV)/bin/python -c 'import sys; print("smoke run on Python", sys.version.split()[0])' && \
	HF_HUB_OFFLINE=1 $(SMOKE_VENV)/bin/python -m pytest -q -p no:cacheprovider -m smoke $(SMOKE_TESTS)

# Re-pin every dependency (universal: Linux/macOS/Windows, Python 3.11-3.13+) after editing pyproject.toml.
lock:
	$(UV) pip compile pyproject.toml --universal --extra test -q -o requirements/core.txt
	$(UV) pip compile pyproject.toml --universal --all-extras -q -o requirements/all.txt

# Rebuild the embedded default checkpoint and its model card from ../shared (see assets/MODEL_CARD.md).
SHARED ?= ../shared
checkpoint: install
	HF_HUB_OFFLINE=1 $(PY) -m recipes.recipe_default --shared $(SHARED) --out assets/default.ckpt --card assets/MODEL_CARD.md

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(SMOKE_VENV) $(OUT) build *.egg-info
