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


class Cleaner:
    """Empties the tables between tests, on one connection kept open.

    ``full()`` truncates every table (but the migrations' record) and restarts
    every sequence: the state a test may assume. ``dirty()`` does the same
    for the tables that hold rows and the sequences that moved since, found
    with one query: a test that wrote to five tables costs a TRUNCATE of five,
    not of ninety (TRUNCATE makes new files for every table and index it
    touches, ~2 ms each). Rows written after the check by another process
    (a Celery worker finishing the previous test's task) would survive it, so
    tests that run such processes use ``full()``, which waits for their locks.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = None
        self.tables: list[str] = []
        self.probe_sql = ""
        self.can_delete = True

    def _cursor(self):
        if self.conn is None or self.conn.closed:
            self.conn = psycopg2.connect(**admin_dsn(self.url))
            self.conn.autocommit = True
            with self.conn.cursor() as cur:
                cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                            "AND tablename <> 'schema_migrations' ORDER BY tablename")
                self.tables = [r[0] for r in cur.fetchall()]
            # One statement: the non-empty tables, then the sequences that were used.
            probes = [f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in self.tables]
            # Only the sequences a column owns (what RESTART IDENTITY restarts):
            # others (e.g. the catalog's version counter) keep counting, as they
            # would in production, so that caches keyed on them never see a value twice.
            cur = self.conn.cursor()
            cur.execute("SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
                        "AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
                        "JOIN pg_namespace n ON n.oid = s.relnamespace "
                        "WHERE s.relkind = 'S' AND n.nspname = 'public'")
            owned = ", ".join(f"'{r[0]}'" for r in cur.fetchall())
            cur.close()
            probes.append("SELECT 'seq:' || sequencename FROM pg_sequences WHERE schemaname = 'public' "
                          f"AND last_value IS NOT NULL AND sequencename IN ({owned or 'NULL'})")
            self.probe_sql = " UNION ALL ".join(probes)
        return self.conn.cursor()

    def _truncate(self, cur, tables: list[str], sequences: list[str] | None) -> None:
        if not tables and not sequences:
            return
        for attempt in range(5):
            try:
                if tables:
                    names = ", ".join(f'"{t}"' for t in tables)
                    cur.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
                if sequences:
                    cur.execute("SELECT setval(quote_ident(sequencename), start_value, false) FROM pg_sequences "
                                "WHERE schemaname = 'public' AND sequencename = ANY(%s)", (sequences,))
                return
            except psycopg2.errors.DeadlockDetected:
                # A task the Celery worker is still finishing from the previous
                # test read a table the TRUNCATE had locked: let it end, retry.
                if attempt == 4:
                    raise
                time.sleep(0.2)

    def full(self) -> None:
        with self._cursor() as cur:
            self._truncate(cur, self.tables, None)

    def dirty(self) -> None:
        with self._cursor() as cur:
            cur.execute(self.probe_sql)
            found = [r[0] for r in cur.fetchall()]
            tables = [f for f in found if not f.startswith("seq:")]
            sequences = [f[4:] for f in found if f.startswith("seq:")]
            if self.can_delete and tables:
                # Every table holding rows is in the list, so DELETE with the
                # foreign-key and other triggers off (replica role) empties
                # them all; TRUNCATE would have to CASCADE to every table that
                # references one of them (most of the schema, via "user").
                try:
                    cur.execute("SET session_replication_role = replica; "
                                + "".join(f'DELETE FROM "{t}"; ' for t in tables)
                                + "SET session_replication_role = DEFAULT")
                    tables = []
                except psycopg2.errors.InsufficientPrivilege:  # not a superuser: TRUNCATE
                    self.can_delete = False
            self._truncate(cur, tables, sequences)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def truncate_all(url: str) -> None:
    """Empty every table (but the migrations' record), on a connection of its own."""
    cleaner = Cleaner(url)
    try:
        cleaner.full()
    finally:
        cleaner.close()
