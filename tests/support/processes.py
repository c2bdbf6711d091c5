"""Our own server as a separate process (``python server.py …``) on a free port."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import psycopg2

import settings
from tests.support.database import EXTRA_DATABASES, admin_dsn
from tests.support.paths import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], port: int, **env_extra: str) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=settings.DATABASE_URL, REDIS_URL=settings.REDIS_URL, PORT=str(port),
               SEED_DEMO="0", **env_extra)
    return subprocess.Popen([sys.executable, "server.py", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become healthy")


def fresh_database(name: str) -> str:
    """An empty database beside the test one (dropped at the end of the run)."""
    conn = psycopg2.connect(**admin_dsn(settings.DATABASE_URL, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    EXTRA_DATABASES.append(name)
    return settings.DATABASE_URL.replace(f"/{admin_dsn(settings.DATABASE_URL)['dbname']}?", f"/{name}?", 1)


def wait_until(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(message)


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and everything under it (each child has its own session)."""
    if proc.poll() is not None:
        return
    tree = [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(recursive=True)
    for p in reversed(tree):
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()
