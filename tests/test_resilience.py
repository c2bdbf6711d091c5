"""Nothing lost, nothing down, against the real processes: Redis stopped under
registrations, a worker killed with -9 with emails queued and in flight, the
`make run` supervisor restarting what crashed, and SIGTERM with requests in flight."""
from __future__ import annotations

import asyncio
import email
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import orjson
import psutil
import psycopg2
import pytest

import settings
from models.core import embedded
from tests.support.database import admin_dsn
from tests.support.mail import wait_for_mail
from tests.support.paths import ROOT, RUN_DIR, TEST_DATA
from tests.support.processes import free_port, fresh_database, kill_tree, wait_healthy, wait_until

pytestmark = pytest.mark.system  # live servers, a supervisor, stopped services


# --- Redis down: nothing lost, nothing waits ------------------------------------

def _stop_test_redis() -> None:
    for proc in embedded._redis_procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


@pytest.mark.gen_test(timeout=120)
async def test_register_with_redis_stopped_answers_at_once_and_the_email_follows(api, celery_worker):
    redis_dir = Path(settings.REDIS_URL[len("unix://"):]).parent
    assert redis_dir.exists()
    _stop_test_redis()
    try:
        timings = []
        for i in range(3):
            started = time.monotonic()
            resp = await api.post("/api/register/", json={"email": f"down{i}@example.com", "password": "password123"})
            timings.append(time.monotonic() - started)
            assert resp.status == 201, resp
        assert max(timings) < 1.5, timings  # no request waits on Redis
        await asyncio.sleep(1.5)  # the relay keeps trying meanwhile
    finally:
        url = embedded.ensure_redis(RUN_DIR / "redis")
        assert url == settings.REDIS_URL
    mails = await wait_for_mail(3, timeout=60)  # no restart of the app or the worker
    assert sorted(m["To"] for m in mails) == [f"down{i}@example.com" for i in range(3)]
    await asyncio.sleep(1)
    assert len(list(settings.MAIL_DIR.glob("*.eml"))) == 3


# --- the make run supervisor, a killed worker --------------------------------------

def _celery(proc: subprocess.Popen, kind: str) -> tuple[psutil.Process, list[psutil.Process]]:
    """The main process of the supervisor's Celery ``kind`` (worker|beat) and its children."""
    for p in psutil.Process(proc.pid).children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
            parent = p.parent()
            if "celery" in cmd and f" {kind}" in cmd and "celery" not in " ".join(parent.cmdline()):
                return p, p.children(recursive=True)
        except psutil.NoSuchProcess:
            continue
    raise AssertionError(f"no celery {kind} under the supervisor")


def _post(port: int, path: str, payload: dict) -> tuple[int, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=orjson.dumps(payload), headers={"Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    return status, time.monotonic() - started


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


def _mails(mail_dir: Path) -> list[str]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)["To"] for p in mail_dir.glob("*.eml")]


def test_killed_worker_and_beat_are_restarted_and_every_email_arrives_exactly_once():
    name = f"avantlush_test_{os.getpid()}_dev"
    database_url = fresh_database(name)
    redis_url = embedded.ensure_redis(RUN_DIR / "redis-dev")  # its own broker: no other worker takes these jobs
    data_dir = RUN_DIR / "dev"
    mail_dir = data_dir / "mail"
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, DATA_DIR=str(data_dir), PORT=str(port),
               SEED_DEMO="0", OUTBOX_REDELIVER_SECONDS="3", OUTBOX_RUN_LEASE_SECONDS="3", CELERY_CONCURRENCY="2", SHUTDOWN_GRACE_SECONDS="5")
    log_path = TEST_DATA / "dev-supervisor.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "server.py", "dev"], cwd=ROOT, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(port, timeout=90)
        worker, pool = wait_until(lambda: (lambda w: w if len(w[1]) == 2 else None)(_celery(proc, "worker")), 60,
                             "the worker pool did not start")
        # Freeze the pool: the worker's consumer still takes messages (in flight,
        # unacknowledged), the rest stay queued in Redis.
        for child in pool:
            child.suspend()
        for i in range(8):
            assert _post(port, "/api/register/", {"email": f"k{i}@example.com", "password": "password123"})[0] == 201
        conn = psycopg2.connect(**admin_dsn(database_url))
        conn.autocommit = True

        def count(sql: str) -> int:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchone()[0]

        wait_until(lambda: count("SELECT count(*) FROM outbox_job WHERE state = 'published'") == 8, 20,
              "jobs were not published")
        time.sleep(0.5)
        beat, _ = _celery(proc, "beat")
        for p in [worker, *pool, beat]:
            p.kill()  # what the OOM killer does
        # The shop keeps answering while the worker is dead.
        assert _get(port, "/api/health/") == 200
        assert _post(port, "/api/register/", {"email": "k8@example.com", "password": "password123"})[0] == 201
        assert _mails(mail_dir) == []
        # The supervisor starts both again; every email arrives, once.
        wait_until(lambda: len(_mails(mail_dir)) >= 9, 60, f"emails: {_mails(mail_dir)}")
        time.sleep(1.5)
        assert sorted(_mails(mail_dir)) == [f"k{i}@example.com" for i in range(9)]
        assert count("SELECT count(*) FROM outbox_job WHERE state = 'done'") == 9
        new_worker, _ = _celery(proc, "worker")
        new_beat, _ = _celery(proc, "beat")
        assert new_worker.pid != worker.pid and new_beat.pid != beat.pid
        conn.close()
        # A crashed web process is started again too.
        web = next(p for p in psutil.Process(proc.pid).children() if "server.py" in " ".join(p.cmdline()))
        web.kill()
        time.sleep(0.5)
        wait_healthy(port, timeout=60)
        assert web.pid not in [p.pid for p in psutil.Process(proc.pid).children()]
        everyone = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        gone, alive = psutil.wait_procs(everyone, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
        log = log_path.read_text()
        assert "worker (pid" in log and "restarting it in" in log
    finally:
        kill_tree(proc)


# --- graceful shutdown of the web server -----------------------------------------

def test_sigterm_finishes_40_requests_in_flight_then_exits():
    port = free_port()
    env = dict(os.environ, DATABASE_URL=settings.DATABASE_URL, REDIS_URL=settings.REDIS_URL, PORT=str(port),
               SEED_DEMO="0", OUTBOX_RELAY="0")
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_healthy(port)
        body = orjson.dumps({"email": "nobody@example.com", "password": "password123"})
        busy, idle = [], []
        for i in range(45):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/health/")  # a warm keep-alive connection
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200 and not resp.will_close
            (idle if i >= 40 else busy).append(conn)
        for conn in busy:  # 40 requests the server has started reading
            conn.putrequest("POST", "/api/auth/login/")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            conn.send(body[:10])
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert proc.poll() is None  # still finishing them
        with pytest.raises(OSError):  # no longer accepting
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        for conn in busy:
            conn.send(body[10:])
        answered = 0
        for conn in busy:
            resp = conn.getresponse()
            payload = orjson.loads(resp.read())
            assert resp.status == 401 and payload["message"] == "Invalid credentials"
            assert resp.getheader("Connection") == "close"
            answered += 1
        assert answered == 40
        for conn in idle:  # idle keep-alive connections were closed
            conn.sock.settimeout(5)
            assert conn.sock.recv(1) == b""
        assert proc.wait(10) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
