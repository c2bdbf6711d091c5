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


_TABLES_SQL = """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
  pg_get_expr(d.adbin, d.adrelid), a.attgenerated
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname, a.attnum"""
_INDEXES_SQL = "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2"
_TRIGGERS_SQL = """SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND n.nspname = 'public' ORDER BY 1, 2"""
_FUNCTIONS_SQL = """SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') ORDER BY 1, 2"""


async def describe_schema() -> str:
    """The live schema as text (``python server.py schema``): each table with
    its columns, indexes and triggers, then the SQL functions. What they do:
    migrations/README.md."""
    import re

    indexes: dict[str, list[str]] = {}
    for table, name, definition in await fetch_all(_INDEXES_SQL):
        body = re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ USING ", lambda m: (m.group(1) or "").lower(), definition)
        indexes.setdefault(table, []).append(f"  index {name}: {body}")
    triggers: dict[str, list[str]] = {}
    for table, name, definition in await fetch_all(_TRIGGERS_SQL):
        body = re.sub(r"^CREATE (CONSTRAINT )?TRIGGER \S+ ", lambda m: (m.group(1) or "").lower(), definition)
        triggers.setdefault(table, []).append(f"  trigger {name}: {body.replace(' ON public.', ' ON ')}")
    lines: list[str] = []
    current = None
    for table, column, type_, not_null, default, generated in await fetch_all(_TABLES_SQL):
        if table != current:
            if current is not None:
                lines += indexes.get(current, []) + triggers.get(current, []) + [""]
            lines.append(f"table {table}")
            current = table
        extra = " not null" if not_null else ""
        if default is not None:
            default = " ".join(default.split())
            extra += f" generated always as {default}" if generated == "s" else f" default {default}"
        lines.append(f"  {column} {type_}{extra}")
    if current is not None:
        lines += indexes.get(current, []) + triggers.get(current, []) + [""]
    lines.append("functions")
    lines += [f"  function {name}({args}) returns {result}" for name, args, result in await fetch_all(_FUNCTIONS_SQL)]
    return "\n".join(lines)
