"""Test fixtures: a real PostgreSQL and Redis (embedded unless DATABASE_URL /
REDIS_URL are set), the app served on each test's IOLoop, an API client,
factories, and a real Celery worker for tests that need one."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / ".test-data"
# Each run has its own data dir, Redis and database, so that runs side by side
# (two checkouts, two engineers) do not disturb each other; the embedded
# PostgreSQL cluster under .test-data/pg is shared.
RUN_DIR = TEST_DATA / "runs" / str(os.getpid())
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
import psycopg2  # noqa: E402
import psycopg2.errors  # noqa: E402
import pytest  # noqa: E402

import settings  # noqa: E402
from models.core.db import connect_params, db, init_db  # noqa: E402

TEST_DB = f"avantlush_test_{os.getpid()}"


def _admin_dsn(url: str, dbname: str | None = None) -> dict:
    name, params = connect_params(url)
    params.pop("pool_params", None)
    return {"dbname": dbname or name, **params}


def _prepare_database() -> str:
    """A fresh, migrated test database; returns its URL."""
    from models.core import embedded

    if not os.environ.get("REDIS_URL"):
        settings.REDIS_URL = embedded.ensure_redis(RUN_DIR / "redis")
    if os.environ.get("DATABASE_URL"):
        url = os.environ["DATABASE_URL"]
    else:
        base = embedded.ensure_postgres(TEST_DATA / "pg")
        conn = psycopg2.connect(**_admin_dsn(base, "postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            # A throwaway cluster: no fsync, so that CREATE/DROP DATABASE's
            # checkpoints do not wait on a disk shared with other test runs.
            cur.execute("SHOW fsync")
            if cur.fetchone()[0] == "on":
                cur.execute("ALTER SYSTEM SET fsync = off")
                cur.execute("ALTER SYSTEM SET synchronous_commit = off")
                cur.execute("SELECT pg_reload_conf()")
            cur.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {TEST_DB}")
        conn.close()
        url = base.replace("/postgres?", f"/{TEST_DB}?", 1)
        settings.DATABASE_URL = url
    settings.resolve_services()
    init_db(url, pool_size=5, timeout=5)

    async def run() -> None:
        from models.core.migrate import migrate

        await db.aio_connect()
        try:
            await migrate()
        finally:
            await db.aio_close()

    asyncio.run(run())
    return url


def _remove_stale_runs() -> None:
    """Remove the data dirs of earlier runs whose process is gone (killed runs
    skip their own clean-up)."""
    from models.core import embedded

    for run in (TEST_DATA / "runs").glob("*"):
        if run.name.isdigit() and int(run.name) != os.getpid() and not embedded.process_alive(int(run.name)):
            embedded.stop_orphan_redis(run / "redis")
            shutil.rmtree(run, ignore_errors=True)


_remove_stale_runs()
DATABASE_URL = _prepare_database()


# Databases that tests created besides TEST_DB (dropped with it, at the end).
EXTRA_DATABASES: list[str] = []


def _drop_database() -> None:
    if os.environ.get("DATABASE_URL"):
        return
    try:
        conn = psycopg2.connect(**_admin_dsn(DATABASE_URL, "postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in [TEST_DB, *EXTRA_DATABASES]:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.close()
    except psycopg2.Error:
        pass
    shutil.rmtree(RUN_DIR, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus):
    _drop_database()
_tables_sql = None


def _truncate_all() -> None:
    global _tables_sql
    conn = psycopg2.connect(**_admin_dsn(DATABASE_URL))
    conn.autocommit = True
    with conn.cursor() as cur:
        if _tables_sql is None:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'schema_migrations'")
            names = ", ".join(f'"{r[0]}"' for r in cur.fetchall())
            _tables_sql = f"TRUNCATE {names} RESTART IDENTITY CASCADE" if names else ""
        for attempt in range(5):
            if not _tables_sql:
                break
            try:
                cur.execute(_tables_sql)
                break
            except psycopg2.errors.DeadlockDetected:
                # A task the Celery worker is still finishing from the previous
                # test read a table the TRUNCATE had locked: let it end, retry.
                if attempt == 4:
                    raise
                time.sleep(0.2)
    conn.close()


@pytest.fixture(autouse=True)
def clean_state():
    """Every test starts with empty tables, no mail and no rate-limit counters."""
    _truncate_all()
    shutil.rmtree(settings.MAIL_DIR, ignore_errors=True)
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter("rl:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    yield


@pytest.fixture(autouse=True)
def db_pool(io_loop):
    """The aiopg pool is bound to a loop: open it on this test's IOLoop."""
    io_loop.run_sync(db.aio_connect)
    yield
    io_loop.run_sync(db.aio_close)


@pytest.fixture
def app():
    from server import make_app

    return make_app()


class Response:
    def __init__(self, raw) -> None:
        self.raw = raw
        self.status = raw.code
        self.headers = raw.headers
        self.body = raw.body or b""

    def json(self):
        return orjson.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode()

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


class ApiClient:
    """``await api.post("/api/x/", json={...}, user=u)`` against the test server."""

    def __init__(self, http_client, base_url: str) -> None:
        self.http_client = http_client
        self.base_url = base_url

    async def request(self, method: str, path: str, *, json=None, body=None, params=None, user=None,
                      token: str | None = None, headers: dict | None = None) -> Response:
        headers = dict(headers or {})
        if user is not None:
            token = token_for(user)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if json is not None:
            body = orjson.dumps(json)
            headers.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        url = self.base_url + path + (("?" + urlencode(params)) if params else "")
        raw = await self.http_client.fetch(url, method=method, body=body, headers=headers, raise_error=False,
                                           allow_nonstandard_methods=True, request_timeout=60)
        return Response(raw)

    async def get(self, path: str, **kw) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw) -> Response:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw) -> Response:
        return await self.request("PUT", path, **kw)

    async def patch(self, path: str, **kw) -> Response:
        return await self.request("PATCH", path, **kw)

    async def delete(self, path: str, **kw) -> Response:
        return await self.request("DELETE", path, **kw)

    async def options(self, path: str, **kw) -> Response:
        return await self.request("OPTIONS", path, **kw)


@pytest.fixture
def api(http_client, base_url) -> ApiClient:
    return ApiClient(http_client, base_url)


def assert_envelope(resp, status: int, message: str | None = None) -> dict:
    """The response is an error of ``status`` in the contract's envelope."""
    assert resp.status == status, resp
    body = resp.json()
    assert body["status"] == "error" and body["success"] is False and isinstance(body["errors"], dict), body
    assert isinstance(body["message"], str) and body["message"], body
    if message is not None:
        assert body["message"] == message, body
    return body


def token_for(user) -> str:
    from models.accounts.tokens import access_token

    return access_token(user)


def auth_headers(user) -> dict:
    return {"Authorization": f"Bearer {token_for(user)}"}


def multipart(fields: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, dict]:
    """Encode ``{"photo": (filename, data, content_type)}`` as multipart/form-data."""
    boundary = "----avantlushtestboundary"
    parts = []
    for name, (filename, data, ctype) in fields.items():
        parts.append((f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                      f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture
def make_user():
    """``await make_user(email=..., password=..., is_staff=...)`` → a User with profile and customer."""
    from models.accounts import actions
    from models.accounts.tables import User
    from models.accounts.passwords import hash_password

    counter = {"n": 0}

    async def factory(email: str | None = None, password: str = "password123", is_staff: bool = False,
                      is_verified: bool = True, full_name: str = "Test User", **fields):
        counter["n"] += 1
        email = email or f"user{counter['n']}@example.com"
        user = await actions.create_account(email, await hash_password(password), full_name=full_name,
                                          is_verified=is_verified, is_staff=is_staff)
        if fields:
            await User.update(**fields).where(User.id == user.id).aio_execute()
        return await User.aio_get(User.id == user.id)

    return factory


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


# --- mail and Celery -----------------------------------------------------------

def read_mails() -> list:
    import email
    from email import policy

    if not settings.MAIL_DIR.exists():
        return []
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(settings.MAIL_DIR.glob("*.eml"))]


async def wait_for_mail(count: int = 1, timeout: float = 20.0) -> list:
    """Wait until the Celery worker has written ``count`` emails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = read_mails()
        if len(mails) >= count:
            return mails
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} email(s), found {len(read_mails())}")


def mail_body(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture(scope="session")
def outbox_relay():
    """The outbox relay (as a web process runs it), in a thread of the test process."""
    from models.core.outbox import Relay

    relay = Relay(DATABASE_URL, name="tests").start()
    yield relay
    relay.stop()


@pytest.fixture(scope="session")
def celery_worker(outbox_relay):
    """A real Celery worker (solo pool) on the test Redis and database, fed by
    the outbox relay."""
    env = dict(os.environ, DATABASE_URL=DATABASE_URL, REDIS_URL=settings.REDIS_URL)
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
