"""The web server against slow, oversize and unlucky requests, as a real
`python server.py` (uvloop, Tornado's HTTP/1 server): header and body read
timeouts, 413 and 431 in the error envelope, and 503 (never 500) while the
database ends the server's sessions."""
from __future__ import annotations

import collections
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import orjson
import psycopg2
import pytest

import settings
from tests.support.database import admin_dsn
from tests.support.paths import ROOT
from tests.support.processes import free_port, wait_healthy

pytestmark = pytest.mark.system  # a live server process (and a PostgreSQL restart)

APP_NAME = f"avantlush-limits-{os.getpid()}"


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = dict(os.environ, DATABASE_URL=settings.DATABASE_URL, REDIS_URL=settings.REDIS_URL, PORT=str(port),
               SEED_DEMO="0", OUTBOX_RELAY="0", HTTP_HEADER_TIMEOUT_SECONDS="1", HTTP_BODY_TIMEOUT_SECONDS="1.5",
               PGAPPNAME=APP_NAME, LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_healthy(port)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def exchange(port: int, data: bytes, timeout: float = 10.0) -> tuple[bytes, float]:
    """Send ``data`` raw; what comes back until the server closes, and after how long."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(timeout)
    started = time.monotonic()
    try:
        sock.sendall(data)
    except OSError:
        pass  # the server may answer and close before taking all of it
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return out, time.monotonic() - started


def envelope(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


def test_a_body_over_the_limit_is_413_in_the_envelope(server):
    """12 MB of JSON: not Tornado's bare 400 with no body."""
    big = 13 * 1024 * 1024
    raw, _ = exchange(server, b"POST /api/auth/login/ HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\n\r\n" % big + b"{" * 200_000)
    status, body = envelope(raw)
    assert status == 413 and body["success"] is False and body["errors"] == {}
    assert body["message"] == "Request body too large. Maximum size is 12 MB."
    # The same with a body that does not say its size (chunked).
    chunk = b"100000\r\n" + b"a" * 0x100000 + b"\r\n"
    raw, _ = exchange(server, b"POST /api/auth/login/ HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 13)
    assert envelope(raw)[0] == 413


def test_headers_over_the_limit_are_431_in_the_envelope(server):
    raw, _ = exchange(server, b"GET /api/health/ HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
    status, body = envelope(raw)
    assert status == 431 and body["message"].startswith("Request line and headers too large")
    raw, _ = exchange(server, b"GET /api/health/?" + b"q" * 40_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert envelope(raw)[0] == 431


def test_slow_clients_are_disconnected_after_the_header_and_body_timeouts(server):
    raw, took = exchange(server, b"GET /api/health/ HTTP/1.1\r\nHost: t\r\n")  # headers never finished
    assert raw == b"" and 0.8 < took < 4
    raw, took = exchange(server, b"POST /api/auth/login/ HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 100\r\n\r\n{\"email\"")  # the body promised, never sent
    assert raw == b"" and 1.2 < took < 5
    # An idle keep-alive connection is closed too; a prompt client is served.
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    conn.request("GET", "/api/health/")
    assert conn.getresponse().read() and True
    conn.sock.settimeout(5)
    started = time.monotonic()
    assert conn.sock.recv(1) == b"" and time.monotonic() - started < 4


def test_database_sessions_ended_under_traffic_answer_503_never_500_then_recover(server):
    """What a PostgreSQL restart does to the pool: every session of the server
    ends, again and again, while requests run."""
    stop = time.monotonic() + 6
    statuses: collections.Counter = collections.Counter()

    def client(path: str) -> None:
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection("127.0.0.1", server, timeout=20)
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                statuses[resp.status] += 1
                if resp.status >= 500:
                    assert orjson.loads(body)["success"] is False
            finally:
                conn.close()

    threads = [threading.Thread(target=client, args=(path,)) for path in (
        "/api/products/?page_size=2", "/api/products/categories/", "/api/health/", "/api/products/search/?q=chair") * 2]
    for t in threads:
        t.start()
    admin = psycopg2.connect(**admin_dsn(settings.DATABASE_URL, "postgres"))
    admin.autocommit = True
    ended = 0
    try:
        while time.monotonic() < stop - 1:
            with admin.cursor() as cur:
                cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE application_name = %s", (APP_NAME,))
                ended += cur.fetchone()[0]
            time.sleep(0.1)
    finally:
        admin.close()
        for t in threads:
            t.join()
    assert ended > 10
    assert statuses[500] == 0, statuses
    assert statuses[503] > 0 and statuses[200] > 0, statuses
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=20)
    conn.request("GET", "/api/products/?page_size=2")
    assert conn.getresponse().status == 200  # recovered by itself
