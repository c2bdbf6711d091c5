"""Test fixtures: a real PostgreSQL and Redis (embedded unless DATABASE_URL /
REDIS_URL are set, created once per session), the app served on each test's
IOLoop, an API client, factories, and a real Celery worker for tests that need
one. Helpers live in tests/support/ (nothing imports this module)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from tests.support.paths import ROOT, RUN_DIR, TEST_DATA

os.environ.update({
    "APP_ENV": "test",
    "DATA_DIR": str(RUN_DIR),
    "SECRET_KEY": "test-secret-key-not-for-production",
    "BCRYPT_ROUNDS": "4",
    "RATE_LIMIT_AUTH": "off",
    "RATE_LIMIT_ANON": "off",
    "RATE_LIMIT_USER": "off",
    "BACKEND_URL": "http://testserver",
    "FRONTEND_URL": "http://shop.test",
    "SEED_DEMO": "0",
    "ADMIN_NOTIFICATION_EMAILS": "staff@avantlush.test",
})
for name in ("SMTP_HOST", "CLOUDINARY_URL", "STRIPE_SECRET_KEY", "PAYPAL_CLIENT_ID", "CLOVER_API_KEY",
             "GOOGLE_CLIENT_ID"):
    os.environ.pop(name, None)
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import pytest  # noqa: E402
import tornado.httpserver  # noqa: E402
import tornado.testing  # noqa: E402
import tornado.web  # noqa: E402

import settings  # noqa: E402
from models.core.db import db  # noqa: E402
from tests.support import database as test_database  # noqa: E402
from tests.support.client import ApiClient  # noqa: E402
from tests.support.factories import user_factory  # noqa: E402
from tests.support.fakes import GOOGLE_CLIENT_ID, GOOGLE_KID, rsa_key_and_cert  # noqa: E402

# Fixtures that run our code in other processes: a test using one (even
# through another fixture) is a system test (`make test-fast` skips them).
SYSTEM_FIXTURES = {"celery_worker"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SYSTEM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session", autouse=True)
def database():
    """A fresh, migrated database for the session (dropped at its end); its URL."""
    test_database.remove_stale_runs()
    url = test_database.prepare_database()
    yield url
    if _cleaner is not None:
        _cleaner.close()
    test_database.drop_database(url)


_cleaner: test_database.Cleaner | None = None
_after_system_test = True  # the first test empties everything


@pytest.fixture(autouse=True)
def clean_state(database, request):
    """Every test starts with empty tables, no mail and no rate-limit counters.

    In-process tests empty only the tables the previous test wrote; a system
    test (other processes may still be writing) and the test after one empty
    every table (``Cleaner.full`` waits for their locks)."""
    global _cleaner, _after_system_test
    if _cleaner is None or _cleaner.url != database:
        _cleaner = test_database.Cleaner(database)
    system = request.node.get_closest_marker("system") is not None
    if system or _after_system_test:
        _cleaner.full()
    else:
        _cleaner.dirty()
    _after_system_test = system
    shutil.rmtree(settings.MAIL_DIR, ignore_errors=True)
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter("rl:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    yield


@pytest.fixture(autouse=True)
def db_pool(io_loop, database):
    """The database pool is bound to a loop: open it on this test's IOLoop."""
    io_loop.run_sync(db.aio_connect)
    yield
    io_loop.run_sync(db.aio_close)


@pytest.fixture
def app():
    from server import make_app

    return make_app()


@pytest.fixture
def api(http_client, base_url) -> ApiClient:
    return ApiClient(http_client, base_url)


@pytest.fixture
def make_user():
    """``await make_user(email=..., password=..., is_staff=...)`` → a User with profile and customer."""
    return user_factory()


@pytest.fixture
def mailbox(celery_worker):
    """The real worker, with no task of an earlier test still queued or running
    and an empty mail directory: every email a test sees is its own."""
    from celery_app import app as celery

    celery.control.purge()
    # The solo worker answers control messages between tasks, so this returns
    # once a task it may be running has finished.
    celery.control.ping(timeout=10, limit=1)
    shutil.rmtree(settings.MAIL_DIR, ignore_errors=True)
    return settings.MAIL_DIR


@pytest.fixture(scope="module")
def google_keys():
    key, pem = rsa_key_and_cert()
    other_key, _ = rsa_key_and_cert()
    return {"key": key, "pem": pem, "other_key": other_key}


@pytest.fixture
def google_certs(google_keys, monkeypatch, io_loop):
    """A local stand-in for Google's certs endpoint, served on the test's loop
    (google-auth fetches it from an executor thread, so the loop stays free)."""
    pem = google_keys["pem"]

    class CertsHandler(tornado.web.RequestHandler):
        def get(self):
            self.set_header("Content-Type", "application/json")
            self.finish(orjson.dumps({GOOGLE_KID: pem}))

    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/oauth2/v1/certs", CertsHandler)]))
    server.add_sockets([sock])
    monkeypatch.setattr(settings, "GOOGLE_CERTS_URL", f"http://127.0.0.1:{port}/oauth2/v1/certs")
    monkeypatch.setattr(settings, "GOOGLE_CLIENT_ID", GOOGLE_CLIENT_ID)
    yield google_keys
    server.stop()


@pytest.fixture
def fake_cloudinary(io_loop):
    """A local stand-in for Cloudinary's upload API, reached by the real SDK."""
    import tornado.httpserver
    import tornado.testing
    import tornado.web

    received = []

    class Upload(tornado.web.RequestHandler):
        def post(self, cloud: str):
            received.append({"cloud": cloud, "args": {k: v[0].decode() for k, v in self.request.body_arguments.items()},
                             "files": {k: v[0].body for k, v in self.request.files.items()}})
            self.write({"public_id": "avantlush/product/abc",
                        "secure_url": f"https://res.cloudinary.com/{cloud}/image/upload/abc.png"})

    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/v1_1/([^/]+)/image/upload", Upload)]))
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}", received
    server.stop()


@pytest.fixture
def count_queries():
    """``with count_queries() as q: ...; len(q)`` counts the SQL statements run."""
    import contextlib

    @contextlib.contextmanager
    def counter():
        log: list[str] = []
        db.query_log = log
        try:
            yield log
        finally:
            db.query_log = None

    return counter


@pytest.fixture(scope="session")
def outbox_relay(database):
    """The outbox relay (as a web process runs it), in a thread of the test process."""
    from models.core.outbox import Relay

    relay = Relay(database, name="tests").start()
    yield relay
    relay.stop()


@pytest.fixture(scope="session")
def celery_worker(outbox_relay, database):
    """A real Celery worker (solo pool) on the test Redis and database, fed by
    the outbox relay."""
    env = dict(os.environ, DATABASE_URL=database, REDIS_URL=settings.REDIS_URL)
    log_path = TEST_DATA / "celery-worker.log"
    log_file = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool=solo",
                             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                             "-n", f"test-{os.getpid()}@%h"],
                            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    from celery_app import app as celery

    deadline = time.monotonic() + 60
    while not celery.control.ping(timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("Celery worker did not start:\n" + log_path.read_text()[-3000:])
    yield proc
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log_file.close()


@pytest.fixture
def sql_search():
    """Searches run in SQL, not from the process's index (models/catalog/engine.py)."""
    from models.catalog.engine import engine

    engine.enabled = False
    yield
    engine.enabled = True


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's server mode) on a free local port:
    the SDK (boto3) talks HTTP to it as it would to any object store."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_server):
    """This process's storage is a bucket of ``s3_server`` for the test; yields it."""
    import uuid

    from models.core import storage

    saved = {name: getattr(settings, name) for name in (
        "STORAGE_URL", "S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    settings.STORAGE_URL = f"s3://test-{uuid.uuid4().hex[:12]}/files"
    settings.S3_ENDPOINT_URL = s3_server
    settings.AWS_ACCESS_KEY_ID = settings.AWS_SECRET_ACCESS_KEY = "test"
    storage.reset()
    store = storage.get()
    store.ensure_bucket()
    yield store
    for name, value in saved.items():
        setattr(settings, name, value)
    storage.reset()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_server():
    """``python server.py`` on the test database and Redis, on a free port (its outbox
    relay included; a test that needs emails or exports also asks for ``celery_worker``)."""
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
