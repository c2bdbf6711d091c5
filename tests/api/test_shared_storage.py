"""Files any process can serve: exports and uploads live in the storage
(models/core/storage.py), here a real S3-compatible server (moto's server mode)
reached through boto3; image rows keep keys and the address is made on read."""
from __future__ import annotations

import csv
import io
import shutil

import pytest

import settings
from models.core import exports, storage
from models.core.db import db, fetch_all, fetch_one
from models.core.exports import ExportJob
from models.core.media import media_url
from tests.support.client import assert_envelope, multipart
from tests.support.factories import make_product, png_bytes


@pytest.fixture
def admin(make_user, io_loop):
    return io_loop.run_sync(lambda: make_user(email="admin@example.com", is_staff=True))


def forget_local_disk() -> None:
    """What another machine (or this one after a restart) has on its disk: nothing."""
    shutil.rmtree(settings.DATA_DIR / "media", ignore_errors=True)
    shutil.rmtree(settings.DATA_DIR / "exports", ignore_errors=True)
    shutil.rmtree(settings.DATA_DIR / "scratch", ignore_errors=True)


@pytest.mark.gen_test
async def test_s3_storage_puts_reads_streams_and_deletes(s3_storage):
    await s3_storage.put_bytes("media/a/b.png", b"x" * 300_000)
    assert await s3_storage.exists("media/a/b.png")
    assert await s3_storage.read("media/a/b.png") == b"x" * 300_000
    size, chunks = await s3_storage.open("media/a/b.png")
    parts = [c async for c in chunks]
    assert size == 300_000 and len(parts) == 2 and b"".join(parts) == b"x" * 300_000
    await s3_storage.delete("media/a/b.png")
    assert not await s3_storage.exists("media/a/b.png")
    with pytest.raises(FileNotFoundError):
        await s3_storage.open("media/a/b.png")
    # The objects sit under the configured prefix.
    await s3_storage.put_bytes("exports/x.csv", b"a,b\r\n")
    listed = s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["files/exports/x.csv"]


@pytest.mark.gen_test
async def test_local_storage_keeps_keys_inside_data_dir():
    local = storage.LocalStorage(settings.DATA_DIR)
    with pytest.raises(FileNotFoundError):
        await local.open("media/../../secret_key")
    assert not await local.exists("../secret_key")


@pytest.mark.gen_test
async def test_async_export_file_is_served_from_the_shared_store_not_the_builders_disk(api, admin, s3_storage):
    await make_product("Ergonomic Chair", "302012", stock=10, base_price="121.00")
    started = await api.get("/api/products/export/?async=1", user=admin)
    assert started.status == 202, started
    job_id = started.json()["id"]
    await exports.build_export(job_id)  # what the worker runs, on its own machine
    job = await ExportJob.aio_get(ExportJob.id == job_id)
    assert job.status == "done" and job.file == f"exports/{job_id}.csv"
    forget_local_disk()  # the web process answering has never seen the file
    resp = await api.get(f"/api/exports/{job_id}/download/", user=admin)
    assert resp.status == 200, resp
    rows = list(csv.reader(io.StringIO(resp.body.decode("utf-8"))))
    assert rows[1][:2] == ["Ergonomic Chair", "302012"]
    # Gone from the store (the clean-up removed it): 404 in the envelope, not a 500.
    await s3_storage.delete(f"exports/{job_id}.csv")
    assert_envelope(await api.get(f"/api/exports/{job_id}/download/", user=admin), 404,
                    "The export file is no longer available.")


@pytest.mark.gen_test
async def test_uploaded_image_is_served_by_a_process_that_did_not_receive_it(api, admin, s3_storage):
    product_id = await make_product("Chair", "C-1", stock=3)
    body, headers = multipart({"image": ("chair.png", png_bytes(), "image/png")})
    resp = await api.post(f"/api/products/{product_id}/upload-image/", body=body, headers=headers, user=admin)
    assert resp.status == 200, resp
    url = resp.json()["image_url"]
    assert url.startswith(settings.MEDIA_URL + "products/")
    key = url[len(settings.MEDIA_URL):]
    assert not (settings.MEDIA_DIR / key).exists()  # nothing on the receiving disk
    forget_local_disk()
    served = await api.get(f"/media/{key}")
    assert served.status == 200 and served.body == png_bytes()
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert (await api.get("/media/products/nope.png")).status == 404
    assert (await api.get("/media/../secret_key")).status == 404


# --- media URLs made on read -------------------------------------------------------------

@pytest.mark.gen_test
async def test_sql_media_url_agrees_with_python():
    keys = [None, "products/a.png", "seed/chair-1.jpg", "https://res.cloudinary.com/demo/image/upload/x.jpg",
            "http://old-host:8000/media/products/b.png", "a b/ü.png"]
    for key in keys:
        row = await fetch_one("SELECT media_url(%s)", (key,))
        assert row[0] == media_url(key), key
    assert media_url("products/a.png") == "http://testserver/media/products/a.png"


@pytest.mark.gen_test
async def test_image_urls_follow_media_url_not_the_host_that_stored_them(api, admin, monkeypatch):
    """A database restored elsewhere, or a server on another port: every image
    answers the address of the server that reads it."""
    product_id = await make_product("Chair", "C-1", stock=3)
    body, headers = multipart({"image": ("chair.png", png_bytes(), "image/png")})
    resp = await api.post(f"/api/products/{product_id}/upload-image/", body=body, headers=headers, user=admin)
    key = resp.json()["image_url"].split("/media/", 1)[1]
    stored = await fetch_all("SELECT p.main_image, i.image_url FROM product p JOIN product_image i "
                             "ON i.product_id = p.id WHERE p.id = %s", (product_id,))
    assert stored == [(key, key)]  # no host in the rows
    detail = (await api.get(f"/api/products/{product_id}/")).json()
    assert detail["main_image"] == f"http://testserver/media/{key}"


@pytest.mark.gen_test
async def test_migration_strips_this_servers_address_from_stored_image_urls():
    product_id = await make_product("Chair", "C-1", stock=3)
    await fetch_one("UPDATE product SET main_image = 'http://localhost:8000/media/seed/chair-1.jpg' "
                    "WHERE id = %s RETURNING 1", (product_id,))
    await fetch_one("INSERT INTO product_image (product_id, image, image_url, is_main, position, created_at) "
                    "VALUES (%s, 'seed/chair-1.jpg', 'https://shop.example.com:8443/media/seed/chair-1.jpg', "
                    "true, 0, now()), (%s, 'cloudinary:x', 'https://res.cloudinary.com/demo/image/upload/x.jpg', "
                    "false, 1, now()) RETURNING 1", (product_id, product_id))
    sql = (settings.ROOT / "migrations" / "0015_several_machines.sql").read_text()
    rewrite = sql.split("-- Rows written", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
    await db.aio_execute_sql(rewrite, ())
    assert await fetch_one("SELECT main_image FROM product WHERE id = %s", (product_id,)) == ("seed/chair-1.jpg",)
    assert [r[0] for r in await fetch_all("SELECT image_url FROM product_image ORDER BY position")] == [
        "seed/chair-1.jpg", "https://res.cloudinary.com/demo/image/upload/x.jpg"]


@pytest.mark.gen_test
async def test_cloudinary_task_reads_the_upload_from_the_shared_store(api, admin, s3_storage, monkeypatch,
                                                                     fake_cloudinary):
    """The worker that copies an upload to Cloudinary runs elsewhere than the
    web process that received it: it reads the file from the shared store."""
    from tasks import images

    prefix, received = fake_cloudinary
    product_id = await make_product("Chair", "C-1", stock=3)
    data = png_bytes()
    body, headers = multipart({"image": ("chair.png", data, "image/png")})
    out = (await api.post(f"/api/products/{product_id}/upload-image/", body=body, headers=headers,
                          user=admin)).json()
    key = out["image_url"].split("/media/", 1)[1]
    forget_local_disk()
    monkeypatch.setattr(settings, "CLOUDINARY_URL", f"cloudinary://key:secret@demo?upload_prefix={prefix}")
    assert await images._move("product", out["image_id"], key) == "https://res.cloudinary.com/demo/image/upload/abc.png"
    assert received[0]["files"]["file"] == data
    assert not await s3_storage.exists(f"media/{key}")  # the copy in the store is gone once moved
    detail = (await api.get(f"/api/products/{product_id}/")).json()
    assert detail["main_image"] == "https://res.cloudinary.com/demo/image/upload/abc.png"
