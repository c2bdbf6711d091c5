"""The test database and Redis: a real PostgreSQL and Redis (embedded unless
DATABASE_URL / REDIS_URL are set). Each run has its own data dir, Redis and
database, so that runs side by side (two checkouts, two engineers) do not
disturb each other; the embedded PostgreSQL cluster under .test-data/pg is
shared. ``prepare_database`` runs once per session (the ``database`` fixture
in conftest.py); after it, ``settings.DATABASE_URL`` names the test database."""
from __future__ import annotations

import asyncio
import os
import shutil
import time

import psycopg2
import psycopg2.errors

import settings
from models.core.db import connect_params, db, init_db
from tests.support.paths import RUN_DIR, TEST_DATA

TEST_DB = f"avantlush_test_{os.getpid()}"
# Databases that tests created besides TEST_DB (dropped with it, at the end).
EXTRA_DATABASES: list[str] = []


def admin_dsn(url: str, dbname: str | None = None) -> dict:
    """psycopg2 connection parameters of ``url`` (of database ``dbname`` when given)."""
    name, params = connect_params(url)
    params.pop("pool_params", None)
    return {"dbname": dbname or name, **params}


def prepare_database() -> str:
    """A fresh, migrated test database; returns its URL."""
    from models.core import embedded

    if not os.environ.get("REDIS_URL"):
        settings.REDIS_URL = embedded.ensure_redis(RUN_DIR / "redis")
    if os.environ.get("DATABASE_URL"):
        url = os.environ["DATABASE_URL"]
    else:
        base = embedded.ensure_postgres(TEST_DATA / "pg")
        conn = psycopg2.connect(**admin_dsn(base, "postgres"))
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


def remove_stale_runs() -> None:
    """Remove the data dirs of earlier runs whose process is gone (killed runs
    skip their own clean-up)."""
    from models.core import embedded

    for run in (TEST_DATA / "runs").glob("*"):
        if run.name.isdigit() and int(run.name) != os.getpid() and not embedded.process_alive(int(run.name)):
            embedded.stop_orphan_redis(run / "redis")
            shutil.rmtree(run, ignore_errors=True)


def drop_database(url: str) -> None:
    if os.environ.get("DATABASE_URL"):
        return
    try:
        conn = psycopg2.connect(**admin_dsn(url, "postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in [TEST_DB, *EXTRA_DATABASES]:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.close()
    except psycopg2.Error:
        pass
    shutil.rmtree(RUN_DIR, ignore_errors=True)


_tables_sql = None


def truncate_all(url: str) -> None:
    """Empty every table (but the migrations' record)."""
    global _tables_sql
    conn = psycopg2.connect(**admin_dsn(url))
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
