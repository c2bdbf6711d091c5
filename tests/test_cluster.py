"""The deployment recipe, run: the Procfile's processes as they run on several
machines. Two web processes on two ports, one Celery worker and one beat, each
with a DATA_DIR of its own (an ephemeral disk), sharing one PostgreSQL, one
Redis and one S3-compatible store (moto's server, reached over HTTP by boto3).
The storefront and admin journeys go through both web processes: whatever one
process wrote, the other serves."""
from __future__ import annotations

import csv
import http.client
import io
import os
import signal
import subprocess
import sys
import time
import uuid

import orjson
import pytest

from models.core import embedded
from tests.support.client import multipart
from tests.support.factories import png_bytes
from tests.support.paths import ROOT, RUN_DIR, TEST_DATA
from tests.support.processes import free_port, fresh_database, kill_tree, wait_healthy, wait_until

pytestmark = pytest.mark.system


class Web:
    """A client of one web process."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(self, method: str, path: str, body=None, token: str | None = None, headers: dict | None = None,
             raw: bytes | None = None) -> tuple[int, bytes, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = orjson.dumps(body)
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        return resp.status, payload, resp

    def json(self, method: str, path: str, body=None, token: str | None = None, expect: int = 200, **kw) -> dict:
        status, payload, _ = self.call(method, path, body, token, **kw)
        assert status == expect, (method, path, status, payload[:500])
        return orjson.loads(payload) if payload else {}


def _start(args: list[str], env: dict, log_name: str) -> subprocess.Popen:
    log = open(TEST_DATA / log_name, "wb")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def test_two_web_processes_a_worker_and_beat_on_separate_disks_serve_each_others_files():
    import boto3

    database_url = fresh_database(f"avantlush_test_{os.getpid()}_cluster")
    redis_url = embedded.ensure_redis(RUN_DIR / "redis-cluster")  # its own broker: no other worker takes these jobs
    s3_port, port_a, port_b = free_port(), free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "PORT", "BACKEND_URL", "MEDIA_URL")}
    common = dict(base, DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY="cluster-secret-key",
                  STORAGE_URL="s3://avantlush-cluster/shop", S3_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}",
                  AWS_ACCESS_KEY_ID="cluster", AWS_SECRET_ACCESS_KEY="cluster", AWS_DEFAULT_REGION="us-east-1",
                  # the address clients use (a load balancer in front of the web processes): here web A
                  BACKEND_URL=f"http://127.0.0.1:{port_a}", SEED_DEMO="0", OUTBOX_WORKER_HEARTBEAT_SECONDS="1",
                  OUTBOX_WORKER_DEAD_SECONDS="5", LOG_LEVEL="INFO")
    disks = {name: RUN_DIR / f"cluster-{name}" for name in ("web-a", "web-b", "worker", "beat")}
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
                            base, "cluster-s3.log"))
        s3 = boto3.client("s3", endpoint_url=common["S3_ENDPOINT_URL"], aws_access_key_id="cluster",
                          aws_secret_access_key="cluster", region_name="us-east-1")
        wait_until(lambda: _s3_up(s3), 30, "the object store did not start")
        s3.create_bucket(Bucket="avantlush-cluster")
        release = subprocess.run([sys.executable, "server.py", "migrate"], cwd=ROOT, capture_output=True,
                                 env=dict(common, DATA_DIR=str(disks["web-a"])), timeout=120)
        assert release.returncode == 0, release.stderr[-2000:]
        subprocess.run([sys.executable, "server.py", "create-admin", "--email", "boss@example.com",
                        "--password", "long-password-1"], cwd=ROOT, check=True, capture_output=True,
                       env=dict(common, DATA_DIR=str(disks["web-a"])), timeout=120)
        for name, port in (("web-a", port_a), ("web-b", port_b)):
            procs.append(_start([sys.executable, "server.py"], dict(common, DATA_DIR=str(disks[name]),
                                                                   PORT=str(port)), f"cluster-{name}.log"))
        procs.append(_start([sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool=solo",
                             "--without-gossip", "--without-mingle", "-n", f"cluster-{uuid.uuid4().hex[:6]}@%h"],
                            dict(common, DATA_DIR=str(disks["worker"])), "cluster-worker.log"))
        procs.append(_start([sys.executable, "-m", "celery", "-A", "celery_app", "beat"],
                            dict(common, DATA_DIR=str(disks["beat"])), "cluster-beat.log"))
        wait_healthy(port_a, timeout=90)
        wait_healthy(port_b, timeout=90)
        a, b = Web(port_a), Web(port_b)

        # --- admin: a product made on A, its image uploaded to B -----------------------
        admin = a.json("POST", "/api/auth/login/", {"email": "boss@example.com", "password": "long-password-1"})
        staff = admin["access_token"]
        product = a.json("POST", "/api/products/", {"name": "Ergonomic Chair", "sku": "EC-1", "base_price": "120.00",
                                                   "stock_quantity": 5, "status": "published"}, staff, expect=201)
        body, headers = multipart({"image": ("chair.png", png_bytes(), "image/png")})
        uploaded = b.json("POST", f"/api/products/{product['id']}/upload-image/", token=staff, raw=body,
                          headers=headers)
        url = uploaded["image_url"]
        assert url.startswith(f"http://127.0.0.1:{port_a}/media/products/")  # BACKEND_URL, not B's own address
        key = url.split("/media/", 1)[1]
        for web in (a, b):  # served by the process that did not receive it, and by the one that did
            status, data, resp = web.call("GET", f"/media/{key}")
            assert status == 200 and data == png_bytes() and resp.getheader("Content-Type") == "image/png"
        assert not any(disk.joinpath("media", key).exists() for disk in disks.values())  # on no one's disk

        # --- storefront: the product as both processes show it; a customer across both ---
        for web in (a, b):
            listed = web.json("GET", "/api/products/?search=chair")["results"]
            assert [p["id"] for p in listed] == [product["id"]] and listed[0]["main_image"] == url
        customer = a.json("POST", "/api/register/", {"email": "ada@example.com", "password": "correct-horse",
                                                    "location": "Nigeria"}, expect=201)["token"]
        b.json("POST", "/api/cart/add-item/", {"product_id": product["id"], "quantity": 2}, customer, expect=201)
        cart = a.json("GET", "/api/cart/", token=customer)
        assert [(i["product"], i["quantity"], i["product_image"]) for i in cart["items"]] == [(product["id"], 2, url)]
        order = b.json("POST", "/api/orders/", {"items": [{"product_id": product["id"], "quantity": 1}],
                                                "shipping_address": "1 Marina, Lagos"}, customer, expect=201)
        assert order["total"] == "120.00"
        mine = a.json("GET", "/api/orders/", token=customer)["results"]
        assert [o["order_number"] for o in mine] == [order["order_number"]]
        # The verification email was written by the worker, on the worker's disk.
        wait_until(lambda: list((disks["worker"] / "mail").glob("*.eml")), 60, "no email from the worker")

        # --- admin: an export started on A, built by the worker, downloaded from B ------
        started = a.json("GET", "/api/products/export/?async=1", token=staff, expect=202)
        status_path = started["status_url"].split(f":{port_a}", 1)[1]
        done = wait_until(lambda: (lambda s: s if s["status"] == "done" else None)(b.json("GET", status_path, token=staff)),
                     60, "the export was not built")
        status, data, _ = b.call("GET", done["download_url"].split(f":{port_a}", 1)[1], token=staff)
        assert status == 200, data[:300]
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        assert rows[0][:2] == ["Name", "SKU"] and rows[1][:2] == ["Ergonomic Chair", "EC-1"]
        assert not any((disk / "exports" / f"{started['id']}.csv").exists() for disk in disks.values())
        # A restarted web process (a new, empty disk) still serves it.
        status, _, _ = a.call("GET", done["download_url"].split(f":{port_a}", 1)[1], token=staff)
        assert status == 200
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                kill_tree(proc)


def _s3_up(client) -> bool:
    try:
        client.list_buckets()
        return True
    except Exception:
        time.sleep(0.2)
        return False
