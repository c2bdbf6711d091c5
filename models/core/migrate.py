"""Versioned migrations: ``migrations/NNNN_name.sql`` files applied in order,
each once and in its own transaction, recorded in ``schema_migrations``.

An advisory lock lets several processes (web workers, the release phase) call
``migrate()`` at the same time safely.
"""
from __future__ import annotations

import logging

import settings
from models.core.db import db, fetch_all

log = logging.getLogger("avantlush.migrate")
MIGRATIONS_DIR = settings.ROOT / "migrations"
LOCK_ID = 7_246_812  # arbitrary, fixed: "avantlush migrations"


def migration_files() -> list:
    return sorted(p for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


async def migrate() -> list[str]:
    """Apply pending migrations; returns the names applied."""
    applied_now: list[str] = []
    async with db.aio_transaction():
        await db.aio_execute_sql("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        await db.aio_execute_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name VARCHAR(255) PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT (now() at time zone 'utc'))")
        rows = await fetch_all("SELECT name FROM schema_migrations")
        done = {r[0] for r in rows}
        for path in migration_files():
            if path.stem in done:
                continue
            log.info("applying migration %s", path.name)
            await db.aio_execute_sql(path.read_text())
            await db.aio_execute_sql("INSERT INTO schema_migrations (name) VALUES (%s)", (path.stem,))
            applied_now.append(path.stem)
    return applied_now


def ddl(models: list) -> str:
    """Draft the CREATE statements of ``models`` (to start a new migration file)."""
    lines = []
    for model in models:
        lines.append(model._schema._create_table(safe=True).query()[0] + ";")
        for index in model._schema._create_indexes(safe=True):
            lines.append(index.query()[0] + ";")
    return "\n".join(lines)
