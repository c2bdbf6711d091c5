# AvantLush backend. `make run` and `make test` set up everything they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint chromium install bench bench-growth migrate seed clean

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

# Everything: lint, then every test (system tests too: live servers, a Celery
# worker, schemathesis, the docs page in headless Chromium).
test: $(STAMP) chromium lint
	$(PY) -m pytest -q -p no:cacheprovider tests

# The in-process tests only (no server, worker or browser processes), on two
# pytest-xdist workers (each its own database, Redis and data dir), a file per worker at a time;
# without the pytest plugins only the system tests use (schemathesis, hypothesis, anyio: 3 s of start-up).
test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -p no:schemathesis -p no:hypothesispytest -p no:anyio \
	  -m "not system" -n $${TEST_WORKERS:-2} --dist loadfile tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The docs page test renders /api/docs/ in Debian's chromium (installed as root with apt-get when missing).
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
	      --no-install-recommends chromium; }

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
