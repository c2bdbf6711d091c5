#!/usr/bin/env bash
# Storefront load benchmark, on demand (`make bench`); not part of `make test`.
# Installs wrk if missing, seeds 10,000 products into bench/.data (once), starts
# the app (WEB_CONCURRENCY=2) and the ceiling probe (bench/probe.py), runs wrk on
# the storefront's read endpoints and prints req/s, latency and the ratio to the
# probe against the targets. Knobs: BENCH_PRODUCTS, BENCH_DURATION,
# BENCH_CONNECTIONS, BENCH_THREADS, BENCH_LOG_LEVEL, BENCH_STRICT=1 (exit 1 on a miss).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  $SUDO apt-get install -y wrk
fi

PY="${PY:-.venv/bin/python}"
[ -x "$PY" ] || make install
exec "$PY" bench/bench.py "$@"
