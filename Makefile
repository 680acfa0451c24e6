# Two commands do everything on a fresh machine: `make demo` and `make test` (which also builds
# the documentation with `make docs` and fails on any Sphinx warning).
# `make install` creates .venv, installs gfortran (escnn's py3nj compiles Fortran) when missing,
# installs torch==2.13.0 first (a plain `torch` requirement would pull a multi-GB CUDA build),
# then this package with its extras. Each step is skipped when its stamp is up to date.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint docs clean

install: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: $(VENV)/bin/python
	@command -v gfortran >/dev/null || { apt-get update -qq && apt-get install -y -qq gfortran; }
	$(PY) -m pip install -q --upgrade pip wheel "setuptools<81"
	$(PY) -m pip install -q torch==2.13.0
	touch $@

$(STAMP): $(VENV)/.torch setup.py setup.cfg
	$(PY) -m pip install -q "numpy<2"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: install
	$(PY) -m implicit_kernels demo

lint: install
	$(PY) -m ruff check groups implicit_kernels benchmarks tests examples

# the API reference and guides (docs/); -W turns every Sphinx warning into a failure
docs: install
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

# one pytest worker per core (pytest-xdist); tests/conftest.py shares the cores' threads among them
test: lint docs
	$(PY) -m pytest -q -n auto tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache docs/_build
