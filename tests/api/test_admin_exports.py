"""Products CSV exports: streamed through a server-side cursor, filtered,
guarded against formula injection, and built in the background (``?async=1``)
by the real Celery worker."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import time
import uuid

import pytest

import settings
from models.core import exports
from models.core.db import utcnow
from models.core.exports import ExportJob
from tests.support.client import assert_envelope
from tests.support.factories import make_category, make_product, make_products

HEADER = ["Name", "SKU", "Category", "Price", "Stock", "Status", "Created"]


@pytest.fixture
def admin(make_user, io_loop):
    return io_loop.run_sync(lambda: make_user(email="admin@example.com", is_staff=True))


def rows_of(resp) -> list[list[str]]:
    return list(csv.reader(io.StringIO(resp.body.decode("utf-8"))))


@pytest.fixture
def shop(io_loop):
    async def build():
        chair = await make_category("Chair", "chair")
        t0 = dt.datetime(2022, 12, 29, 10, 0)
        await make_product("Ergonomic Chair", "302012", category=chair, stock=10, base_price="121.00", created_at=t0)
        await make_product("Table", "301600", stock=347, base_price="400.00", created_at=t0 - dt.timedelta(days=101))
        await make_product("Desk Lamp", "LMP-1", status="draft", stock=0, base_price="30.5",
                           created_at=t0 - dt.timedelta(days=200))

    io_loop.run_sync(build)


@pytest.mark.gen_test
async def test_products_export_streams_the_csv(api, admin, shop):
    resp = await api.get("/api/products/export/", user=admin)
    assert resp.status == 200, resp
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert resp.headers["Content-Disposition"] == "attachment; filename=products.csv"
    assert resp.body.startswith(b"Name,SKU,Category,Price,Stock,Status,Created\r\n")
    assert rows_of(resp) == [
        HEADER,
        ["Ergonomic Chair", "302012", "Chair", "121.00", "10", "Low Stock", "2022-12-29"],
        ["Table", "301600", "", "400.00", "347", "Published", "2022-09-19"],
        ["Desk Lamp", "LMP-1", "", "30.50", "0", "Draft", "2022-06-12"],
    ]


@pytest.mark.gen_test
async def test_dashboard_export_honours_the_filters(api, admin, shop):
    url = "/api/dashboard/export_products/"
    resp = await api.get(url, user=admin)
    assert resp.status == 200 and len(rows_of(resp)) == 4
    assert [r[0] for r in rows_of(await api.get(url, params={"tab": "draft"}, user=admin))[1:]] == ["Desk Lamp"]
    assert [r[0] for r in rows_of(await api.get(url, params={"tab": "low_stock"}, user=admin))[1:]] == [
        "Ergonomic Chair"]
    assert [r[0] for r in rows_of(await api.get(url, params={"search": "3016"}, user=admin))[1:]] == ["Table"]
    assert [r[0] for r in rows_of(await api.get(url, params={"category": "chair"}, user=admin))[1:]] == [
        "Ergonomic Chair"]
    # Nothing matches: the header alone.
    assert rows_of(await api.get(url, params={"search": "zzz"}, user=admin)) == [HEADER]


@pytest.mark.gen_test
async def test_export_with_an_invalid_tab_is_a_json_400(api, admin):
    resp = await api.get("/api/dashboard/export_products/", params={"tab": "sold"}, user=admin)
    body = assert_envelope(resp, 400)
    assert resp.headers["Content-Type"].startswith("application/json")
    assert "Content-Disposition" not in resp.headers
    assert "valid_tabs" in body


@pytest.mark.gen_test
async def test_export_reads_through_a_server_side_cursor_in_batches(api, admin, count_queries):
    await make_products(2500)
    with count_queries() as log:
        resp = await api.get("/api/products/export/", user=admin)
    assert resp.status == 200, resp
    rows = rows_of(resp)
    assert len(rows) == 2501 and rows[0] == HEADER
    assert rows[1][0] == "Product 0000" and rows[-1][0] == "Product 2499"
    assert sum(1 for sql in log if sql.startswith("DECLARE ")) == 1
    assert sum(1 for sql in log if sql.startswith("FETCH 1000 ")) == 3  # 1000 + 1000 + 500


@pytest.mark.gen_test
async def test_export_arrives_in_chunks(admin, http_client, base_url):
    """Each batch is flushed as it is read: the client gets the body piece by piece."""
    from tests.support.client import auth_headers

    await make_products(2500)
    pieces: list[bytes] = []
    resp = await http_client.fetch(base_url + "/api/products/export/", headers=auth_headers(admin),
                                   streaming_callback=pieces.append, decompress_response=False)
    assert resp.code == 200
    assert resp.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in resp.headers
    body = b"".join(pieces)
    assert body.count(b"\r\n") == 2501 and len(pieces) >= 3


@pytest.mark.gen_test
async def test_export_guards_against_formula_injection(api, admin):
    await make_product("=HYPERLINK(\"http://evil\")", "+SKU-1")
    await make_product("@SUM(A1)", "-SKU-2")
    rows = rows_of(await api.get("/api/products/export/", user=admin))
    assert {(r[0], r[1]) for r in rows[1:]} == {("'=HYPERLINK(\"http://evil\")", "'+SKU-1"), ("'@SUM(A1)", "'-SKU-2")}


def test_safe_cell_quotes_text_formulas_only():
    from decimal import Decimal

    assert exports.safe_cell("=1+1") == "'=1+1"
    assert exports.safe_cell("\tcmd") == "'\tcmd"
    assert exports.safe_cell("plain") == "plain"
    assert exports.safe_cell(Decimal("-5")) == "-5.00"  # numbers are data, not formulas
    assert exports.safe_cell(-3) == -3
    assert exports.safe_cell(None) == ""


@pytest.mark.gen_test
async def test_exports_are_admin_only(api, make_user):
    shopper = await make_user(email="s@example.com")
    job = uuid.uuid4()
    for path in ("/api/products/export/", "/api/dashboard/export_products/", f"/api/exports/{job}/",
                 f"/api/exports/{job}/download/"):
        assert_envelope(await api.get(path), 401)
        assert_envelope(await api.get(path, user=shopper), 403)


@pytest.mark.gen_test
async def test_unknown_export_job_is_404(api, admin):
    assert_envelope(await api.get(f"/api/exports/{uuid.uuid4()}/", user=admin), 404)
    assert_envelope(await api.get("/api/exports/not-a-uuid/", user=admin), 404)
    assert_envelope(await api.get(f"/api/exports/{uuid.uuid4()}/download/", user=admin), 404)


@pytest.mark.gen_test
async def test_download_before_the_export_is_done_is_409(api, admin):
    job = uuid.uuid4()
    await ExportJob.insert(id=job, kind="products", params={}, status="pending", created_at=utcnow()).aio_execute()
    status = (await api.get(f"/api/exports/{job}/", user=admin)).json()
    assert status["status"] == "pending" and status["download_url"] is None and status["finished_at"] is None
    assert_envelope(await api.get(f"/api/exports/{job}/download/", user=admin), 409)


async def wait_until_done(api, user, status_url: str, timeout: float = 30.0) -> dict:
    path = status_url.split("://", 1)[1].split("/", 1)[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await api.get("/" + path, user=user)
        assert resp.status == 200, resp
        body = resp.json()
        if body["status"] in ("done", "failed"):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"export still {body['status']} after {timeout}s")


@pytest.mark.gen_test(timeout=60)
async def test_async_export_is_built_by_the_worker(api, admin, shop, celery_worker):
    base_url = settings.BACKEND_URL  # links name the public address, not the request's Host
    resp = await api.get("/api/dashboard/export_products/", params={"async": "1", "tab": "published"}, user=admin)
    assert resp.status == 202, resp
    started = resp.json()
    assert set(started) == {"id", "status", "status_url"} and started["status"] == "pending"
    assert started["status_url"] == f"{base_url}/api/exports/{started['id']}/"

    done = await wait_until_done(api, admin, started["status_url"])
    assert done["status"] == "done", done
    assert done["id"] == started["id"] and done["kind"] == "products" and done["row_count"] == 2
    assert done["download_url"] == f"{base_url}/api/exports/{started['id']}/download/"
    assert done["created_at"].endswith("Z") and done["finished_at"].endswith("Z")

    download = await api.get(done["download_url"][len(base_url):], user=admin)
    assert download.status == 200, download
    assert download.headers["Content-Type"].startswith("text/csv")
    assert download.headers["Content-Disposition"] == "attachment; filename=products.csv"
    streamed = await api.get("/api/dashboard/export_products/", params={"tab": "published"}, user=admin)
    assert download.body == streamed.body
    assert [r[0] for r in rows_of(download)] == ["Name", "Ergonomic Chair", "Table"]


@pytest.mark.gen_test(timeout=60)
async def test_async_products_export_of_everything(api, admin, celery_worker):
    await make_products(1500)
    resp = await api.get("/api/products/export/", params={"async": "true"}, user=admin)
    assert resp.status == 202, resp
    done = await wait_until_done(api, admin, resp.json()["status_url"])
    assert done["status"] == "done" and done["row_count"] == 1500
    download = await api.get(f"/api/exports/{done['id']}/download/", user=admin)
    assert len(rows_of(download)) == 1501


@pytest.mark.gen_test
async def test_an_abandoned_stream_releases_its_connection():
    """A client that goes away mid-download closes the generator: the cursor's
    transaction ends and its connection goes back to the pool."""
    import contextlib

    from models.core.db import db

    await make_products(2500)
    chunks = exports.csv_chunks("products", exports.clean_filters("products", {}))
    async with contextlib.aclosing(chunks):
        first = await chunks.__anext__()
        assert first.startswith("Name,SKU,") and first.count("\r\n") == 1001
        assert db.pool_backend.has_acquired_connections()
    assert not db.pool_backend.has_acquired_connections()
    # No transaction was left open in this context either: a new one starts cleanly.
    async with db.aio_transaction():
        assert await ExportJob.select().aio_count() == 0
