# Two entry points, each self-contained on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nbskit-installed

.PHONY: demo test venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[all]"
	$(PY) -m nbskit.tracking.setup_mediapipe -q
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m nbskit demo --out runs/demo

# -rs: every skip is listed with its reason (under CI=true a skip fails instead, see tests/conftest.py).
test: $(STAMP)
	$(PY) -m pytest -q -rs
