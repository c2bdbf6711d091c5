# AvantLush backend. `make run` and `make test` set up everything they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: run test install bench bench-growth migrate seed clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Reinstall only when a requirements file changed.
$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) server.py dev

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

migrate: $(STAMP)
	$(PY) server.py migrate

seed: $(STAMP)
	$(PY) server.py seed --products $${PRODUCTS:-1000}

bench: $(STAMP)
	bash bench/run.sh

# The same benchmark at 1,000 and 100,000 products (seeds bench/.data-<size> once each).
bench-growth: $(STAMP)
	BENCH_SIZES=$${BENCH_SIZES:-1000,100000} bash bench/run.sh

clean:
	rm -rf .test-data
