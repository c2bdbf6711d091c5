"""Cross-cutting behaviour of every endpoint: the error envelope (405, 500, 503),
CORS, rate limits, request ids and the OpenAPI document."""
from __future__ import annotations

import re
import time
import types

import pytest
import tornado.testing
import tornado.web

import settings
from handlers.core.base import BaseHandler
from handlers.core.openapi import api as api_meta
from handlers.core.routing import Route
from models.core import ratelimit
from models.core.db import db, init_db
from tests.support.client import assert_envelope

ERROR_MESSAGE = "An error occurred while processing your request"


class BoomHandler(BaseHandler):
    """Test-only: fails the way a bug would."""

    @api_meta()
    async def get(self):
        raise RuntimeError("secret internals: password=hunter2")


@pytest.fixture
def app():
    from server import make_app

    app = make_app()
    app.wildcard_router.add_rules([Route("/api/test-only/boom/", BoomHandler)])
    return app


LOGIN = {"email": "nobody@example.com", "password": "whatever-password"}


@pytest.fixture
def frozen_clock(monkeypatch):
    """A still clock: the buckets refill only when a test moves time on."""
    now = (int(time.time()) // 3600) * 3600 + 1800.0  # mid-hour, mid-minute
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: now))
    return now


# --- the envelope ----------------------------------------------------------------

@pytest.mark.gen_test
async def test_unsupported_method_is_405_with_allow_header(api):
    resp = await api.delete("/api/auth/login/")
    body = assert_envelope(resp, 405)
    assert body["message"] == 'Method "DELETE" not allowed.'
    assert resp.headers["Allow"] == "POST, OPTIONS"


@pytest.mark.gen_test
async def test_405_lists_every_method_of_the_resource(api, make_user):
    user = await make_user()
    resp = await api.put("/api/addresses/", json={}, user=user)
    assert_envelope(resp, 405)
    assert set(resp.headers["Allow"].split(", ")) == {"GET", "POST", "OPTIONS"}


@pytest.mark.gen_test
async def test_a_method_a_path_does_not_offer_is_405_whoever_asks(api, make_user):
    """Before authentication: no token, a bad one or a refused one changes what a path offers."""
    user = await make_user()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        resp = await api.put("/api/addresses/", json={}, headers=headers)
        assert_envelope(resp, 405)
    assert_envelope(await api.delete("/api/cart/summary/", user=user), 405)
    assert_envelope(await api.delete("/api/cart/summary/"), 405)  # not 401


@pytest.mark.gen_test
async def test_500_never_leaks_a_traceback(api):
    resp = await api.get("/api/test-only/boom/")
    body = assert_envelope(resp, 500)
    assert body["message"] == ERROR_MESSAGE
    assert "Traceback" not in resp.text and "hunter2" not in resp.text and "RuntimeError" not in resp.text
    assert resp.headers["Content-Type"].startswith("application/json")


# --- CORS ------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_cors_preflight_is_204_with_allowed_methods(api):
    resp = await api.options("/api/addresses/", headers={
        "Origin": "http://shop.test", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert resp.status == 204, resp
    assert resp.body == b""
    methods = {m.strip() for m in resp.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]


@pytest.mark.gen_test
async def test_cors_headers_stay_on_error_responses(api):
    resp = await api.get("/api/profile/", headers={"Origin": "http://shop.test"})
    assert resp.status == 401
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in resp.headers["Access-Control-Expose-Headers"]
    assert "Idempotent-Replayed" in resp.headers["Access-Control-Expose-Headers"]  # a browser app reads it


@pytest.mark.gen_test
async def test_cors_allows_only_configured_origins(api, monkeypatch):
    monkeypatch.setattr(settings, "CORS_ALLOWED_ORIGINS", ["http://shop.test"])
    ok = await api.get("/api/preview_email/", headers={"Origin": "http://shop.test"})
    assert ok.headers["Access-Control-Allow-Origin"] == "http://shop.test"
    assert "Origin" in ok.headers["Vary"]
    evil = await api.get("/api/preview_email/", headers={"Origin": "http://evil.test"})
    assert "Access-Control-Allow-Origin" not in evil.headers


# --- rate limits -----------------------------------------------------------------

@pytest.mark.gen_test
async def test_auth_rate_limit_answers_429_with_retry_after(api, monkeypatch, frozen_clock):
    monkeypatch.setattr(settings, "RATE_LIMIT_AUTH", "2/minute")
    for _ in range(2):
        assert (await api.post("/api/auth/login/", json=LOGIN)).status == 401
    resp = await api.post("/api/auth/login/", json=LOGIN)
    body = assert_envelope(resp, 429)
    assert "throttled" in body["message"]
    # A token bucket: 2/minute gives one request back every 30 s, and says so.
    assert int(resp.headers["Retry-After"]) == 30
    # Each credential endpoint has its own bucket ...
    assert (await api.post("/api/register/", json={"email": "x@example.com", "password": "password123"})).status == 201
    # ... and the strict limit does not touch other anonymous requests.
    assert (await api.get("/api/preview_email/")).status == 200


@pytest.mark.gen_test
async def test_auth_rate_limit_refills_as_time_passes(api, monkeypatch):
    """No fixed clock minute: the Retry-After answered is when a request is accepted again."""
    clock = {"now": 1_000_000.0}
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: clock["now"]))
    monkeypatch.setattr(settings, "RATE_LIMIT_AUTH", "3/minute")
    for _ in range(3):
        assert (await api.post("/api/auth/login/", json=LOGIN)).status == 401
    resp = await api.post("/api/auth/login/", json=LOGIN)
    assert_envelope(resp, 429)
    wait = int(resp.headers["Retry-After"])
    assert wait == 20
    clock["now"] += wait - 1
    assert (await api.post("/api/auth/login/", json=LOGIN)).status == 429
    clock["now"] += 1
    assert (await api.post("/api/auth/login/", json=LOGIN)).status == 401
    assert (await api.post("/api/auth/login/", json=LOGIN)).status == 429


@pytest.mark.gen_test
async def test_auth_rate_limit_ignores_x_forwarded_for_unless_proxy_trusted(api, monkeypatch, frozen_clock):
    monkeypatch.setattr(settings, "RATE_LIMIT_AUTH", "2/minute")
    monkeypatch.setattr(settings, "TRUST_PROXY", False)
    for ip in ("10.0.0.1", "10.0.0.2"):
        assert (await api.post("/api/auth/login/", json=LOGIN, headers={"X-Forwarded-For": ip})).status == 401
    # A new forged address does not buy a fresh allowance.
    resp = await api.post("/api/auth/login/", json=LOGIN, headers={"X-Forwarded-For": "10.0.0.3"})
    assert_envelope(resp, 429)


@pytest.mark.gen_test
async def test_auth_rate_limit_is_per_forwarded_ip_when_proxy_trusted(api, monkeypatch, frozen_clock):
    monkeypatch.setattr(settings, "RATE_LIMIT_AUTH", "2/minute")
    monkeypatch.setattr(settings, "TRUST_PROXY", True)
    client_a = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
    for _ in range(2):
        assert (await api.post("/api/auth/login/", json=LOGIN, headers=client_a)).status == 401
    assert_envelope(await api.post("/api/auth/login/", json=LOGIN, headers=client_a), 429)
    client_b = {"X-Forwarded-For": "198.51.100.9"}
    other = {"email": "someone.else@example.com", "password": "whatever-password"}
    assert (await api.post("/api/auth/login/", json=other, headers=client_b)).status == 401


@pytest.mark.gen_test
async def test_anonymous_rate_limit_applies_to_other_requests(api, monkeypatch, frozen_clock):
    monkeypatch.setattr(settings, "RATE_LIMIT_ANON", "2/minute")
    for _ in range(2):
        assert (await api.get("/api/preview_email/")).status == 200
    resp = await api.get("/api/preview_email/")
    assert_envelope(resp, 429)
    assert "Retry-After" in resp.headers


@pytest.mark.gen_test
async def test_user_rate_limit_is_per_user(api, make_user, monkeypatch, frozen_clock):
    monkeypatch.setattr(settings, "RATE_LIMIT_USER", "2/minute")
    alice = await make_user()
    bob = await make_user()
    for _ in range(2):
        assert (await api.get("/api/profile/", user=alice)).status == 200
    resp = await api.get("/api/profile/", user=alice)
    assert_envelope(resp, 429)
    assert "Retry-After" in resp.headers
    # Another token of the same user shares the allowance; another user does not.
    assert (await api.get("/api/addresses/", user=alice)).status == 429
    assert (await api.get("/api/profile/", user=bob)).status == 200


@pytest.mark.gen_test
async def test_rate_limits_hold_across_processes_through_redis(api, monkeypatch, frozen_clock):
    """The counter lives in Redis: a hit counted by another process counts here."""
    import redis as sync_redis

    monkeypatch.setattr(settings, "RATE_LIMIT_AUTH", "2/minute")
    client = sync_redis.Redis.from_url(settings.REDIS_URL)
    other_process = client.register_script(ratelimit._GCRA)
    now_ms = int(frozen_clock * 1000)
    for _ in range(2):
        assert other_process(keys=["rl:login:127.0.0.1"], args=[now_ms, 30000, 60000]) == 0
    client.close()
    assert_envelope(await api.post("/api/auth/login/", json=LOGIN), 429)


def redis_is_down(monkeypatch) -> None:
    """The app's own Redis client (same options as in production), pointed at
    a socket nobody serves."""
    import models.core.cache

    monkeypatch.setattr(settings, "REDIS_URL", "unix:///nonexistent/avantlush/redis.sock")
    monkeypatch.setattr(models.core.cache, "_clients", {})


@pytest.mark.gen_test
async def test_rate_limiting_fails_open_when_redis_is_down(api, make_user, monkeypatch):
    monkeypatch.setattr(settings, "RATE_LIMIT_AUTH", "1/minute")
    monkeypatch.setattr(settings, "RATE_LIMIT_USER", "1/minute")
    redis_is_down(monkeypatch)
    user = await make_user()
    started = time.monotonic()
    for _ in range(3):
        assert (await api.post("/api/auth/login/", json=LOGIN)).status == 401
        assert (await api.get("/api/profile/", user=user)).status == 200
    assert time.monotonic() - started < 5


# --- backing services down -------------------------------------------------------

@pytest.fixture
def take_database_down(io_loop, database):
    """``await take_database_down()`` points the pool at a port nobody listens
    on, as when PostgreSQL is down; the real pool is back after the test."""
    state = {"down": False}

    def reinit(url: str, **kwargs) -> None:
        # peewee and peewee-async merge new connect params into the old ones.
        db.connect_params, db.pool_params = {}, {}
        init_db(url, **kwargs)

    async def down() -> None:
        await db.aio_close()
        sock, port = tornado.testing.bind_unused_port()
        sock.close()
        reinit(f"postgresql://avantlush@127.0.0.1:{port}/avantlush", pool_size=2, timeout=2, wait=0.5)
        await db.aio_connect()
        state["down"] = True

    yield down
    if state["down"]:
        io_loop.run_sync(db.aio_close)
        reinit(database, pool_size=5, timeout=5)
        io_loop.run_sync(db.aio_connect)


@pytest.mark.gen_test
async def test_database_down_is_503_in_the_envelope_quickly(api, make_user, take_database_down):
    user = await make_user()
    await take_database_down()
    started = time.monotonic()
    resp = await api.get("/api/profile/", user=user)
    assert time.monotonic() - started < 5
    body = assert_envelope(resp, 503)
    assert "database" in body["message"]
    assert body.get("service") == "database"
    assert "Traceback" not in resp.text and "127.0.0.1" not in resp.text


@pytest.mark.gen_test
async def test_health_is_503_naming_the_database_when_it_is_down(api, take_database_down):
    await take_database_down()
    resp = await api.get("/api/health/")
    assert resp.status == 503, resp
    body = resp.json()
    assert body["status"] == "error" and body["redis"] == "ok"
    assert body["database"] != "ok"
    assert "database" in body["message"] and "redis" not in body["message"]


@pytest.mark.gen_test
async def test_health_is_503_naming_redis_when_it_is_down(api, monkeypatch):
    redis_is_down(monkeypatch)
    resp = await api.get("/api/health/")
    assert resp.status == 503, resp
    body = resp.json()
    assert body["database"] == "ok" and body["redis"] != "ok"
    assert "redis" in body["message"]


# --- routing -------------------------------------------------------------------------

def test_routing_by_first_segment_finds_what_the_whole_table_finds():
    """handlers.core.routing.Application tries only the routes a path's first segment
    can match: the same handler and path arguments as trying them all."""
    import tornado.httputil

    from server import make_app

    app = make_app()
    paths = ["/", "/api", "/api/", "/api/v1", "/api/v1/", "/api/v1/v1/cart/", "/api/nope/", "/static/x.css",
             "/favicon.ico", "/media/a/b.jpg", "/api/cart/x/", "/api/%63art/", "/API/cart/"]
    for rule in app.wildcard_router.rules:
        template = getattr(rule, "template", None)
        if template:
            path = re.sub(r"\{\w+:int\}", "7", re.sub(r"\{\w+\}", "abc", template))
            paths += [path, path.rstrip("/"), path.replace("/api/", "/api/v1/", 1), path + "extra/"]
    assert len(paths) > 200
    for path in paths:
        fast = app.find_handler(tornado.httputil.HTTPServerRequest(method="GET", uri=path))
        full = tornado.web.Application.find_handler(app, tornado.httputil.HTTPServerRequest(method="GET", uri=path))
        assert (fast.handler_class, fast.path_args, fast.path_kwargs) == \
            (full.handler_class, full.path_args, full.path_kwargs), path


# --- request ids -----------------------------------------------------------------

@pytest.mark.gen_test
async def test_request_id_is_echoed_on_success_and_error(api):
    for path in ("/api/preview_email/", "/api/profile/", "/api/health/", "/api/no-such-thing/"):
        resp = await api.get(path, headers={"X-Request-ID": "req-abc.123"})
        assert resp.headers.get("X-Request-ID") == "req-abc.123", (path, resp.status)


@pytest.mark.gen_test
async def test_request_id_is_generated_when_absent_or_unsafe(api):
    first = (await api.get("/api/preview_email/")).headers["X-Request-ID"]
    second = (await api.get("/api/preview_email/")).headers["X-Request-ID"]
    assert first and second and first != second
    resp = await api.get("/api/profile/", headers={"X-Request-ID": "a\tb<script>"})
    assert resp.status == 401
    assert resp.headers["X-Request-ID"] == "abscript"


# --- OpenAPI ---------------------------------------------------------------------

@pytest.mark.gen_test
async def test_openapi_documents_every_api_route_and_method(api):
    from handlers.core.routing import all_routes

    resp = await api.get("/api/schema/")
    assert resp.status == 200, resp
    doc = resp.json()
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]
    missing = []
    for route in all_routes():
        if not isinstance(route, Route) or not route.template.startswith("/api/"):
            continue
        item = paths.get(route.openapi_path, {})
        for method in route.handler_class.allowed_methods():
            if method != "OPTIONS" and method.lower() not in item:
                missing.append(f"{method} {route.template} ({route.handler_class.__name__})")
    assert not missing, "undocumented (add @api): " + ", ".join(missing)


@pytest.mark.gen_test
async def test_openapi_operations_reference_defined_schemas(api):
    resp = await api.get("/api/schema/")
    doc = resp.json()
    schemas = doc["components"]["schemas"]
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', resp.text))
    assert refs and not refs - set(schemas), refs - set(schemas)
    register = doc["paths"]["/api/register/"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RegisterIn"}
    assert "201" in register["responses"]
    assert doc["paths"]["/api/profile/"]["get"]["security"] == [{"bearer": []}]
    assert (await api.get("/openapi.json")).json()["openapi"] == "3.1.0"
