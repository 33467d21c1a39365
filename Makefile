# Two entry points: `make run` (install + start the editor on the bundled sample) and `make test`.
# TORCH_SPEC / TORCH_INDEX choose the torch build, e.g. for a CPU-only build on Linux:
#   make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
# and for a given CUDA build use that CUDA's wheel index instead.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[gui,test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/harmonizer gui

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV)
