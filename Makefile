# livemer: `make demo` sets everything up and runs the main job; `make test` runs the tests.
# Both share the `install` step: system packages, a virtual environment, livemer itself.

VENV    ?= .venv
PYTHON  ?= python3.11
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.livemer-installed
APT_PKGS := ffmpeg libportaudio2 espeak-ng pulseaudio
SUDO    := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
OUT     ?= livemer-out

.PHONY: install system-deps demo test bench checkpoint clean

install: $(STAMP)

system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml | system-deps
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "livemer needs Python 3.11 ($(PYTHON))"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/livemer demo --out $(OUT)

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider tests

# Rebuild the embedded default checkpoint and its model card from ../shared (see assets/MODEL_CARD.md).
SHARED ?= ../shared
checkpoint: install
	HF_HUB_OFFLINE=1 $(PY) -m recipes.recipe_default --shared $(SHARED) --out assets/default.ckpt --card assets/MODEL_CARD.md

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
