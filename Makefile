# media-ml: `make demo` and `make test` each create .venv when missing and install the project.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench samples clean chromium train-gradual

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import shutil, sys; free = shutil.disk_usage('.').free / 2**30; \
	  free < 8 and print(f'media-ml: {free:.1f} GiB free here and the install takes about 7 GiB' \
	  ' (torch and its CUDA libraries): pip may fail with No space left on device', file=sys.stderr)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,serve]'
	touch $(STAMP)

samples: $(STAMP)
	$(PY) sample_media/make_samples.py

demo: $(STAMP) samples
	$(PY) -m media_ml.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check media_ml tests benchmarks sample_media
	$(VENV)/bin/mypy media_ml

# The browser tests drive Debian's chromium (never a browser download); install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; \
	  else echo "chromium is missing and apt-get needs root: apt-get install chromium" >&2; \
	       exit 1; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q \
	    chromium >/dev/null; }

test: $(STAMP) lint chromium
	$(PY) -m pytest -q -ra

test-fast: $(STAMP)
	$(PY) -m pytest -q -ra -m "not slow"

# Retrain the gradual-transition scorer shipped in media_ml/detectors/models (tune sets only).
train-gradual: $(STAMP)
	$(PY) benchmarks/train_gradual.py

bench: $(STAMP) samples
	$(PY) benchmarks/shots.py
	$(PY) benchmarks/suggest.py
	$(PY) benchmarks/embed.py
	$(PY) benchmarks/search.py
	$(PY) benchmarks/index.py --sizes 100000 1000000
	$(PY) benchmarks/library_index.py --n 1000000
	$(PY) benchmarks/obd.py
	$(PY) benchmarks/ope.py
	$(PY) benchmarks/policies.py
	$(PY) benchmarks/load.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache .mypy_cache
