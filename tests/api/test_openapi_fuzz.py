"""The OpenAPI document tells the truth: it is valid OpenAPI 3.1, and
schemathesis with every check finds nothing over every operation, called
anonymously, as a customer and as a staff user, against a real server on the
test database (fixed seed, bounded examples). On failure the assertion shows
schemathesis' report: each failure with the request to reproduce it."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from openapi_spec_validator import validate

import settings
from tests.conftest import DATABASE_URL, ROOT, RUN_DIR, TEST_DATA, token_for
from tests.openapi_fuzz import fetch_document, run

SEED = 20261201
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_server():
    """``python server.py`` on the test database and Redis, on a free port."""
    port = _free_port()
    env = dict(os.environ, PORT=str(port), DATABASE_URL=DATABASE_URL, REDIS_URL=settings.REDIS_URL,
               DATA_DIR=str(RUN_DIR), BACKEND_URL=f"http://127.0.0.1:{port}", WEB_CONCURRENCY="1")
    log_path = TEST_DATA / f"fuzz-server-{os.getpid()}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/health/", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("test server did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    server_errors = [line for line in log_path.read_text().splitlines() if " ERROR " in line]
    log_path.unlink(missing_ok=True)
    assert not server_errors, "server logged errors:\n" + "\n".join(server_errors[:20])


def test_openapi_document_is_valid(live_server):
    document = fetch_document(live_server)
    validate(document)
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("caller", ["anonymous", "customer", "admin"])
def test_schemathesis_finds_nothing(live_server, caller, make_user, io_loop):
    token = None
    if caller != "anonymous":
        user = io_loop.run_sync(lambda: make_user(email=f"{caller}@example.com", is_staff=caller == "admin"))
        token = token_for(user)
    result = run(live_server, seed=SEED, examples=EXAMPLES, token=token, timeout=170)
    report_path = TEST_DATA / f"schemathesis-{caller}.txt"
    report_path.write_text(result.stdout + result.stderr)
    failures = result.stdout.split("=== FAILURES ===", 1)[-1].split("=== WARNINGS ===", 1)[0]
    assert result.returncode == 0, (f"schemathesis as {caller} found problems (whole report: {report_path}):\n"
                                    f"{failures[-15000:]}{result.stderr[-2000:]}")
