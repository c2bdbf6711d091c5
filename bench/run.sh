#!/usr/bin/env bash
# Storefront load benchmark, on demand (`make bench`); not part of `make test`.
# Installs wrk if missing, seeds 10,000 products into bench/.data (once), starts
# the app (WEB_CONCURRENCY=2) and the ceiling probe (bench/probe.py), runs wrk on
# the storefront's read endpoints and prints req/s, latency and the ratio to the
# probe against the targets. Knobs: BENCH_PRODUCTS, BENCH_DURATION,
# BENCH_CONNECTIONS, BENCH_THREADS, BENCH_LOG_LEVEL, BENCH_STRICT=1 (exit 1 on a miss).
# Serialised with flock: a second run waits for the first (BENCH_LOCK, /tmp/avantlush-bench.lock).
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
# One bench at a time on this machine (other checkouts too): runs side by side would
# measure each other. BENCH_LOCK names the lock file.
LOCK="${BENCH_LOCK:-/tmp/avantlush-bench.lock}"
echo "bench: taking $LOCK (waits while another run holds it)" >&2
exec flock "$LOCK" "$PY" bench/bench.py "$@"
