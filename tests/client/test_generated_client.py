"""A client generated from /api/schema/ walks the storefront's and the
dashboard's journeys (tests/client/journeys.py), type-checked with mypy.

A vague or broken schema fails the generation (``--fail-on-warning``), a
changed field name or type fails the type check or the run, and every answer
the client gets is checked against the document (tests/support/document_check.py).
The client is generated once per schema (cached under .test-data by the
document's hash and the generator's version)."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests.support.document_check import problem
from tests.support.mail import mail_body, read_mails
from tests.support.paths import ROOT, TEST_DATA

HERE = Path(__file__).resolve().parent
PACKAGE = "avantlush_client"
GENERATOR_CONFIG = f"package_name_override: {PACKAGE}\nproject_name_override: avantlush-client\n"


def _generator_version() -> str:
    from importlib.metadata import version

    return version("openapi-python-client")


def generate_client(base_url: str) -> Path:
    """The generated package's parent directory (put it on the path)."""
    with urllib.request.urlopen(f"{base_url}/api/schema/", timeout=30) as resp:
        document = resp.read()
    digest = hashlib.sha256(document + GENERATOR_CONFIG.encode() + _generator_version().encode()).hexdigest()[:16]
    out = TEST_DATA / f"client-{digest}"
    if (out / PACKAGE / "__init__.py").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    (out / "schema.json").write_bytes(document)
    (out / "config.yaml").write_text(GENERATOR_CONFIG)
    bin_dir = Path(sys.executable).parent  # ruff, which the generator runs on its output
    result = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", str(out / "schema.json"),
         "--output-path", str(out / PACKAGE), "--meta", "none", "--config", str(out / "config.yaml"),
         "--overwrite", "--fail-on-warning"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}"))
    assert result.returncode == 0, "the generator refused the document:\n" + (result.stdout + result.stderr)[-6000:]
    return out


def type_check(generated: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(HERE / "mypy.ini"), "--cache-dir",
         str(generated / ".mypy_cache"), str(HERE / "journeys.py")],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=dict(os.environ, MYPYPATH=str(generated)))
    assert result.returncode == 0, "mypy on the journeys:\n" + result.stdout[-6000:] + result.stderr[-2000:]


def _check_answer(response: httpx.Response) -> None:
    """Every answer the generated client gets matches the document."""
    response.read()
    content_type = response.headers.get("content-type", "")
    body = response.json() if content_type.startswith("application/json") and response.content else None
    found = problem(response.request.method, response.request.url.path, response.status_code, content_type, body)
    assert found is None, f"the answer does not match the API document: {found}"


def _verification_link(email: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for msg in read_mails():
            if email in str(msg["To"]):
                links = re.findall(r"https?://\S+", mail_body(msg))
                verify = [link for link in links if "verif" in link]
                assert verify, mail_body(msg)
                return verify[0]
        time.sleep(0.2)
    raise AssertionError(f"no verification email to {email}")


@pytest.mark.system
def test_generated_client_walks_the_storefront_and_admin_journeys(live_server, celery_worker, make_user, io_loop):
    started = time.monotonic()
    generated = generate_client(live_server)
    type_check(generated)
    sys.path.insert(0, str(generated))
    try:
        spec = importlib.util.spec_from_file_location("journeys", HERE / "journeys.py")
        assert spec is not None and spec.loader is not None
        journeys = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(journeys)
        io_loop.run_sync(lambda: make_user(email="boss@example.com", password="long-password-1", is_staff=True))
        httpx_args = {"event_hooks": {"response": [_check_answer]}}
        admin = journeys.sign_in(live_server, "boss@example.com", "long-password-1", httpx_args)
        shop = journeys.admin_sets_up_the_shop(admin)
        order_id = journeys.storefront_journey(live_server, shop, _verification_link, httpx_args)
        journeys.admin_journey(admin, order_id)
    finally:
        sys.path.remove(str(generated))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
    print(f"generated-client journeys: {time.monotonic() - started:.1f} s")
