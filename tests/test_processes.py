"""Process management: `python server.py` with WEB_CONCURRENCY, and the `dev`
supervisor behind `make run`, both leave no process behind when stopped."""
import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

import settings
from tests.support.paths import ROOT
from tests.support.processes import free_port, start, wait_healthy

pytestmark = pytest.mark.system  # server processes started and killed


def descendants(proc: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def live_workers(proc: subprocess.Popen, exclude: int) -> list[psutil.Process]:
    alive = []
    for p in descendants(proc):
        try:
            if p.pid != exclude and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def assert_all_gone(procs: list[psutil.Process], timeout: float = 30) -> None:
    gone, alive = psutil.wait_procs(procs, timeout=timeout)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"


def test_web_concurrency_forks_workers_restarts_crashed_ones_and_stops_all():
    port = free_port()
    proc = start([], port, WEB_CONCURRENCY="2")
    try:
        wait_healthy(port)
        workers = descendants(proc)
        assert len(workers) == 2
        crashed = workers[0]
        crashed.kill()  # a crash
        crashed.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(live_workers(proc, exclude=crashed.pid)) < 2:
            time.sleep(0.2)
        assert len(live_workers(proc, exclude=crashed.pid)) == 2
        wait_healthy(port)
        everyone = [psutil.Process(proc.pid)] + live_workers(proc, exclude=crashed.pid)
        proc.send_signal(signal.SIGTERM)
        assert_all_gone(everyone)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_dev_supervisor_runs_web_worker_beat_and_ctrl_c_stops_them():
    port = free_port()
    proc = start(["dev"], port)
    try:
        wait_healthy(port, timeout=90)
        children = descendants(proc)
        commands = " ".join(" ".join(p.cmdline()) for p in children)
        assert "worker" in commands and "beat" in commands and "server.py" in commands
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert_all_gone(children)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_web_processes_share_the_search_index_loaded_before_the_fork(tmp_path):
    """One index per machine: the parent loads it, the forked web processes
    use that copy (shared copy-on-write) instead of each loading their own."""
    import psycopg2

    from tests.support.database import admin_dsn

    conn = psycopg2.connect(**admin_dsn(settings.DATABASE_URL))
    conn.autocommit = True
    with conn.cursor() as cur:  # a catalog write: the search feed has a version to load from
        cur.execute("INSERT INTO category (name, slug, description, created_at) VALUES ('Chairs', 'chairs', '', now())")
    conn.close()
    port = free_port()
    log_path = tmp_path / "web.log"
    env = dict(os.environ, DATABASE_URL=settings.DATABASE_URL, REDIS_URL=settings.REDIS_URL, PORT=str(port),
               SEED_DEMO="0", WEB_CONCURRENCY="2", OUTBOX_RELAY="0", LOG_LEVEL="INFO")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(port)
        deadline = time.monotonic() + 30
        while len(descendants(proc)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in range(10):  # searches in both processes (new connections spread over them)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/products/?search=chair", timeout=10) as r:
                assert r.status == 200
        text = log_path.read_text()
        assert text.count("search index preloaded for the web processes") == 1
        assert "search index loaded" not in text  # no process loaded one of its own
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
