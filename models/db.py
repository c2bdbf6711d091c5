"""The database: one peewee-async PostgreSQL pool per process, the base model,
transactions with after-commit hooks, and money helpers.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, unquote, urlparse

import peewee
import peewee_async

log = logging.getLogger("avantlush.db")


class Database(peewee_async.PostgresqlDatabase):
    """peewee-async PostgreSQL (aiopg pool) that can record the SQL it runs.

    ``query_log`` is a list while a test counts queries, ``None`` otherwise.
    """

    query_log: list[str] | None = None

    async def aio_execute_sql(self, sql, params=None, fetch_results=None):
        if self.query_log is not None:
            self.query_log.append(sql)
        return await super().aio_execute_sql(sql, params, fetch_results=fetch_results)


db = Database(None)


async def fetch_all(sql: str, params: Any = ()) -> list[tuple]:
    """Rows of a hand-written statement (``%s`` or ``%(name)s`` parameters)."""
    return await db.aio_execute_sql(sql, params or (), fetch_results=_all_rows)


async def fetch_one(sql: str, params: Any = ()) -> tuple | None:
    """The first row of a hand-written statement, or None."""
    return await db.aio_execute_sql(sql, params or (), fetch_results=_one_row)


async def _all_rows(_db: Any, cursor: Any) -> list[tuple]:
    return await cursor.fetchall()


async def _one_row(_db: Any, cursor: Any) -> tuple | None:
    return await cursor.fetchone()


def connect_params(url: str) -> tuple[str, dict[str, Any]]:
    """Split a ``postgresql://`` URL into peewee's database name and params."""
    parts = urlparse(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    params: dict[str, Any] = {}
    host = unquote(parts.hostname or "") or query.pop("host", None)
    if host:
        params["host"] = host
    if parts.port:
        params["port"] = parts.port
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    if "sslmode" in query:
        params["sslmode"] = query["sslmode"]
    name = unquote(parts.path.lstrip("/")) or "postgres"
    return name, params


def init_db(url: str, pool_size: int = 10, timeout: int = 5) -> None:
    name, params = connect_params(url)
    params["pool_params"] = {"minsize": 0, "maxsize": pool_size, "timeout": timeout}
    params["connect_timeout"] = timeout
    db.init(name, **params)


class BaseModel(peewee_async.AioModel):
    class Meta:
        database = db
        legacy_table_names = False


def utcnow() -> dt.datetime:
    """Naive UTC: every timestamp column holds UTC."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def iso(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="seconds") + "Z"
    return value.isoformat()


# --- money -----------------------------------------------------------------

CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """Round to the cent, half up. The one rounding rule of the project."""
    return Decimal(str(value) if not isinstance(value, Decimal) else value).quantize(CENT, ROUND_HALF_UP)


def money_str(value: Any) -> str | None:
    return None if value is None else f"{money(value):.2f}"


def money_number(value: Any) -> Any:
    """A bare JSON number with two decimals (``209.99``, ``349.00``), for the
    few fields the spec shows as numbers; everywhere else money is a string."""
    import orjson

    return None if value is None else orjson.Fragment(f"{money(value):.2f}".encode())


class MoneyField(peewee.DecimalField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("auto_round", True)
        super().__init__(*args, **kwargs)


# --- transactions ------------------------------------------------------------

_after_commit: contextvars.ContextVar[list | None] = contextvars.ContextVar("after_commit", default=None)


@contextlib.asynccontextmanager
async def transaction():
    """A transaction (a savepoint when nested) whose after-commit hooks run once
    the outermost block has committed, and never if it rolls back."""
    pending = _after_commit.get()
    if pending is not None:
        async with db.aio_atomic():
            yield
        return
    hooks: list[Callable[[], Awaitable[None]]] = []
    token = _after_commit.set(hooks)
    try:
        async with db.aio_atomic():
            yield
    finally:
        _after_commit.reset(token)
    for hook in hooks:
        try:
            await hook()
        except Exception:  # the data is committed; a failed side effect must not undo the reply
            log.exception("after-commit hook failed")


async def on_commit(hook: Callable[[], Awaitable[None]]) -> None:
    """Run ``hook`` after the current transaction commits (now if there is none)."""
    pending = _after_commit.get()
    if pending is None:
        await hook()
    else:
        pending.append(hook)
