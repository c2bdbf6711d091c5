"""The OpenAPI document tells the truth: it is valid OpenAPI 3.1, and
schemathesis with every check finds nothing over every operation, called
anonymously, as a customer and as a staff user, against a real server on the
test database (fixed seed, bounded examples). On failure the assertion shows
schemathesis' report: each failure with the request to reproduce it."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from openapi_spec_validator import validate

import settings
from tests.support.client import token_for
from tests.support.openapi_fuzz import fetch_document, run
from tests.support.paths import ROOT, RUN_DIR, TEST_DATA

pytestmark = pytest.mark.system  # a live server, schemathesis processes, Chromium

SEED = 20261201
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
# About 1.5 minutes of CPU on an idle 2-core machine; generous so that a loaded machine is not a failure.
TIMEOUT = float(os.environ.get("FUZZ_TIMEOUT", "900"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_server():
    """``python server.py`` on the test database and Redis, on a free port."""
    port = _free_port()
    env = dict(os.environ, PORT=str(port), DATABASE_URL=settings.DATABASE_URL, REDIS_URL=settings.REDIS_URL,
               DATA_DIR=str(RUN_DIR), BACKEND_URL=f"http://127.0.0.1:{port}", WEB_CONCURRENCY="2")
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
                raise RuntimeError("test server did not start:\n" + log_path.read_text()[-3000:]) from None
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


def test_schemathesis_finds_nothing_for_any_caller(live_server, make_user, io_loop):
    """Anonymous, customer and admin at once (three schemathesis processes), so
    that the step stays within its time budget on a small machine."""
    callers = {"anonymous": (None, None)}
    # The callers' ids far from the small ones the admin's calls delete or block
    # (DELETE /api/customers/1/ must not end the customer caller's session).
    from models.core.db import fetch_all

    io_loop.run_sync(lambda: fetch_all("SELECT setval('users_id_seq', 900000), setval('customer_id_seq', 900000)"))
    for caller, role in (("customer", "user"), ("admin", "admin")):
        user = io_loop.run_sync(lambda caller=caller, role=role: make_user(email=f"{caller}@example.com",
                                                                          is_staff=role == "admin"))
        callers[caller] = (token_for(user), role)
    with ThreadPoolExecutor(len(callers)) as pool:
        futures = {caller: pool.submit(run, live_server, seed=SEED, examples=EXAMPLES, token=token, role=role,
                                       workers=1, timeout=TIMEOUT)
                   for caller, (token, role) in callers.items()}
        results = {caller: future.result() for caller, future in futures.items()}
    problems = []
    for caller, result in results.items():
        report_path = TEST_DATA / f"schemathesis-{caller}.txt"
        report_path.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            failures = result.stdout.split("=== FAILURES ===", 1)[-1].split("=== WARNINGS ===", 1)[0]
            problems.append(f"--- schemathesis as {caller} found problems (whole report: {report_path}):\n"
                            f"{failures[-12000:]}{result.stderr[-2000:]}")
    assert not problems, "\n".join(problems)


def _chromium() -> str:
    """Debian's chromium; `make test` installs it (the Makefile's ``chromium`` step)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed: run `make test` (it installs Debian's chromium), "
                    "or `make chromium`")
    return found


def _headless(chromium: str, *args: str) -> subprocess.CompletedProcess:
    profile = TEST_DATA / f"chromium-{os.getpid()}"
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           f"--user-data-dir={profile}", "--window-size=1280,1800",
                           "--virtual-time-budget=20000", *args], capture_output=True, text=True, timeout=180)


def test_api_index_links_the_docs_schema_and_health(live_server):
    with urllib.request.urlopen(f"{live_server}/api/", timeout=10) as resp:
        index = json.loads(resp.read())
    for key, path in (("docs", "/api/docs/"), ("schema", "/api/schema/"), ("health", "/api/health/")):
        assert index[key].endswith(path)
        with urllib.request.urlopen(index[key], timeout=10) as resp:
            assert resp.status == 200


def test_docs_page_renders_every_operation_in_headless_chromium(live_server):
    """Swagger UI, from the app's own assets (nothing fetched elsewhere), lists
    every documented path; a screenshot is left in .test-data/docs.png."""
    chromium = _chromium()
    document = fetch_document(live_server)
    dom = _headless(chromium, "--dump-dom", f"{live_server}/api/docs/")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "AvantLush API" in html and "opblock" in html, html[:2000]
    missing = [p for p in document["paths"] if f'data-path="{p}"' not in html]
    assert not missing, f"not rendered: {missing}"
    assert "Unable to render" not in html and "Failed to load" not in html
    shot = _headless(chromium, f"--screenshot={TEST_DATA / 'docs.png'}", f"{live_server}/api/docs/")
    assert shot.returncode == 0 and (TEST_DATA / "docs.png").stat().st_size > 10_000
