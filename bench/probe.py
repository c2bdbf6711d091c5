"""The ceiling probe: the least a Tornado + peewee-async service can do per
request on this machine, against the same database as the app.

``GET /probe/<id>/`` returns one product row, looked up by primary key, as
JSON; no auth, no rate limit, no logging. bench/run.sh compares every app
endpoint's throughput with this one's.

    DATABASE_URL=... PORT=8101 PROBE_PROCESSES=2 python bench/probe.py
"""
from __future__ import annotations

import asyncio
import os
import sys

import orjson
import tornado.httpserver
import tornado.netutil
import tornado.process
import tornado.web

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models.core.db import db, init_db  # noqa: E402

SQL = ("SELECT id, name, slug, price::text, stock_quantity, status FROM product WHERE id = %s")
COLUMNS = ("id", "name", "slug", "price", "stock_quantity", "status")


async def _fetchone(_db, cursor):
    return await cursor.fetchone()


class ProbeHandler(tornado.web.RequestHandler):
    async def get(self, product_id: str) -> None:
        row = await db.aio_execute_sql(SQL, (int(product_id),), fetch_results=_fetchone)
        if row is None:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps(dict(zip(COLUMNS, row))))


async def serve(sockets) -> None:
    init_db(os.environ["DATABASE_URL"], pool_size=int(os.environ.get("DB_POOL_SIZE", "10")))
    await db.aio_connect()
    app = tornado.web.Application([(r"/probe/([0-9]+)/?", ProbeHandler)], log_function=lambda handler: None)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    await asyncio.Event().wait()


def main() -> None:
    sockets = tornado.netutil.bind_sockets(int(os.environ.get("PORT", "8101")))
    processes = int(os.environ.get("PROBE_PROCESSES", "2"))
    if processes > 1:
        tornado.process.fork_processes(processes, max_restarts=100)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(sockets))


if __name__ == "__main__":
    main()
