# media-ml: `make demo` and `make test` each create .venv when missing and install the project.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench samples clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

samples: $(STAMP)
	$(PY) sample_media/make_samples.py

demo: $(STAMP) samples
	$(PY) -m media_ml.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check media_ml tests benchmarks sample_media
	$(VENV)/bin/mypy media_ml

test: $(STAMP) lint
	$(PY) -m pytest -q -ra

test-fast: $(STAMP)
	$(PY) -m pytest -q -ra -m "not slow"

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

clean:
	rm -rf $(VENV) demo_output .pytest_cache .mypy_cache
