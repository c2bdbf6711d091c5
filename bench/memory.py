"""Memory of the web processes at a catalog size: resident (RSS), unique (USS)
and proportional (PSS) memory of 1, 2 and 4 web processes (``WEB_CONCURRENCY``),
measured with psutil after each process has served searches.

    python bench/memory.py --data-dir bench/.data-100000 [--processes 1,2,4] [--root DIR]

``--data-dir``: a DATA_DIR seeded with ``python server.py seed --products N``
(its embedded PostgreSQL is started if needed). ``--root``: the checkout whose
``server.py`` runs (to measure another version the same way). Prints one row
per process count and keeps nothing.
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["chair", "table", "oak", "lamp", "sofa", "ergonomic", "desk", "walnut", "bed", "rug", "shelf", "mirror",
         "velvet", "linen", "stool", "cabinet", "bench", "ottoman", "wardrobe", "dresser"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def wait_healthy(port: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if get(port, "/api/health/") == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become healthy")


def measure(root: Path, data_dir: Path, processes: int, requests: int) -> dict:
    port = free_port()
    env = dict(os.environ, DATA_DIR=str(data_dir), PORT=str(port), WEB_CONCURRENCY=str(processes), OUTBOX_RELAY="0",
               LOG_LEVEL="WARNING", RATE_LIMIT_ANON="off", RATE_LIMIT_USER="off", RATE_LIMIT_AUTH="off", SEED_DEMO="0")
    python = root / ".venv" / "bin" / "python"
    proc = subprocess.Popen([str(python if python.exists() else sys.executable), "server.py"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        started = time.monotonic()
        wait_healthy(port)
        ready = time.monotonic() - started
        if processes > 1:  # every child up (each answers health once it has its index)
            deadline = time.monotonic() + 300
            while len(psutil.Process(proc.pid).children()) < processes and time.monotonic() < deadline:
                time.sleep(0.2)
        rng = random.Random(7)
        for _ in range(requests):  # new connections: the kernel spreads them over the processes
            q = " ".join(rng.sample(WORDS, rng.randint(1, 2)))
            get(port, f"/api/products/?search={q.replace(' ', '+')}&page={rng.randint(1, 3)}")
            get(port, f"/api/products/search/?q={q[:-1].replace(' ', '+')}")
        time.sleep(1)
        parent = psutil.Process(proc.pid)
        web = parent.children() if processes > 1 else [parent]
        rows = []
        for p in ([parent] if processes > 1 else []) + web:
            info = p.memory_full_info()
            rows.append({"pid": p.pid, "role": "parent" if p is parent and processes > 1 else "web",
                         "rss": info.rss, "uss": info.uss, "pss": info.pss})
        return {"processes": processes, "ready_s": ready, "rows": rows}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def mb(n: float) -> str:
    return f"{n / 2**20:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(f"code: {args.root}  data: {args.data_dir}")
    print("web  ready   parent RSS/USS MB    per web process RSS / USS MB (mean, max USS)   total PSS MB")
    for n in [int(x) for x in args.processes.split(",")]:
        result = measure(args.root.resolve(), args.data_dir.resolve(), n, args.requests)
        web = [r for r in result["rows"] if r["role"] == "web"]
        parent = next((r for r in result["rows"] if r["role"] == "parent"), None)
        total_pss = sum(r["pss"] for r in result["rows"])
        print(f"{n:3d}  {result['ready_s']:5.1f}s  "
              f"{(mb(parent['rss']) + ' /' + mb(parent['uss'])) if parent else '      -         '}    "
              f"{mb(sum(r['rss'] for r in web) / len(web))} /{mb(sum(r['uss'] for r in web) / len(web))}"
              f" (max {mb(max(r['uss'] for r in web)).strip()})"
              f"                 {mb(total_pss)}", flush=True)


if __name__ == "__main__":
    main()
