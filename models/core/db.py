"""The database: one peewee-async PostgreSQL pool per process, the base model,
transactions with after-commit hooks, and money helpers.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import logging
import re
import weakref
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, unquote, urlparse

import peewee
import peewee_async

log = logging.getLogger("avantlush.db")


_POOL_KEYS = ("min_size", "max_size", "timeout", "max_idle", "max_lifetime", "reconnect_timeout")


class _PoolBackend(peewee_async.pool.PsycopgPoolBackend):
    """psycopg 3's async pool (psycopg_pool), given our connection parameters
    (socket directory hosts, ``options``, ``connect_timeout``, ``sslmode``) as
    keyword arguments rather than a URL: peewee-async's own backend builds a
    URL from host/port/user/password only. Connections are autocommit (peewee
    sends BEGIN/COMMIT) with client-side binding (``%s`` / ``%(name)s`` as
    psycopg2 had them). Connections are not checked on their way out (a round
    trip per request: it cost up to a third of the throughput in `make bench`);
    one the server ended (a restart) fails its request with a connection error,
    answered 503, and the pool drops it when it comes back broken."""

    async def create(self) -> None:
        import psycopg
        import psycopg_pool

        params = dict(self.connect_params)
        pool = {k: params.pop(k) for k in _POOL_KEYS if k in params}
        params.pop("enable_json", None)
        params.pop("enable_hstore", None)
        kwargs = {"dbname": self.database, **params, "autocommit": True, "cursor_factory": psycopg.AsyncClientCursor}
        self.pool = psycopg_pool.AsyncConnectionPool(kwargs=kwargs, open=False, **pool)
        await self.pool.open()

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close(timeout=1)


class Database(peewee_async.Psycopg3Database):
    """peewee-async PostgreSQL (psycopg 3 and its pool) that can record the SQL it runs.

    ``query_log`` is a list while a test counts queries, ``None`` otherwise.
    """

    pool_backend_cls = _PoolBackend
    query_log: list[str] | None = None

    def init(self, database, **kwargs):
        # peewee picks its driver adapter (how JSON, arrays… are sent) at every
        # init: psycopg 3's, also when psycopg2 (used by the sync relay) is installed.
        kwargs["prefer_psycopg3"] = True
        super().init(database, **kwargs)

    async def aio_execute_sql(self, sql, params=None, fetch_results=None):
        if self.query_log is not None:
            self.query_log.append(sql)
        try:
            return await super().aio_execute_sql(sql, params, fetch_results=fetch_results)
        except RuntimeError as exc:
            if not connection_lost(exc):
                raise
            raise peewee.OperationalError(f"database connection lost: {exc}") from exc


def _connection_errors() -> tuple[type[BaseException], ...]:
    import psycopg
    import psycopg2

    return (peewee.OperationalError, peewee.InterfaceError, psycopg.OperationalError, psycopg.InterfaceError,
            psycopg2.OperationalError, psycopg2.InterfaceError)


# The errors that mean "the database is not reachable now" (a restart, a lost
# connection, no free pooled connection in time), whichever driver raised it:
# requests answer 503, background tasks retry.
CONNECTION_ERRORS = _connection_errors()


def sqlstate(exc: Any) -> str | None:
    """The SQLSTATE of a driver error (psycopg 3's ``sqlstate``, psycopg2's ``pgcode``), else None."""
    return getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)


def connection_lost(exc: BaseException) -> bool:
    """A pooled connection whose socket the event loop had already dropped (the
    server restarted or ended the session): uvloop's "the handler is closed"."""
    return isinstance(exc, RuntimeError) and "the handler is closed" in str(exc)


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


# --- prepared statements (the hot reads of the catalog, the cart, the signed-in user) -----

# Planning costs PostgreSQL about as much as running a page query (a search
# with its trigram index estimates, more), so the hot queries are prepared
# once per pooled connection (psycopg2 has no protocol-level prepare: SQL
# PREPARE/EXECUTE). Their generic plans stay on the indexes: a search's
# full-text and trigram branches are each a bitmap index scan whatever the
# words. There are few shapes: the filters present and the number of words.
MAX_PREPARED_PER_CONNECTION = 200
_statements: dict[str, tuple[str, str, list[str]]] = {}  # sql -> (name, PREPARE body, parameter names)
_prepared: "weakref.WeakKeyDictionary[Any, set[str]]" = weakref.WeakKeyDictionary()  # connection -> names
_NAMED_PARAM = re.compile(r"%\((\w+)\)s")


def _statement(sql: str) -> tuple[str, str, list[str]]:
    stmt = _statements.get(sql)
    if stmt is None:
        names: list[str] = []

        def positional(match: re.Match) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        # ``%%`` stays: the PREPARE text still goes through the driver's formatting.
        stmt = ("q_" + hashlib.sha1(sql.encode()).hexdigest()[:20], _NAMED_PARAM.sub(positional, sql), names)
        _statements[sql] = stmt
    return stmt


async def fetch_prepared(sql: str, params: dict[str, Any]) -> list[tuple]:
    """Rows of ``sql`` (named ``%(name)s`` parameters), run as a prepared statement.

    The PREPARE happens once per pooled connection and is not a request's
    query (it bypasses the query log); the EXECUTE is.
    """
    name, body, names = _statement(sql)
    args = [params[n] for n in names]
    execute = f"EXECUTE {name}(" + ", ".join(["%s"] * len(args)) + ")" if args else f"EXECUTE {name}"
    async with db.aio_connection() as conn:
        ready = _prepared.setdefault(conn, set())
        if name not in ready:
            if len(ready) >= MAX_PREPARED_PER_CONNECTION:
                return await fetch_all(sql, params)
            with peewee.__exception_wrapper__:
                async with conn.cursor() as cursor:
                    if not ready:
                        # Plan once per connection: left to itself PostgreSQL keeps
                        # re-planning a typo search (its custom plans look cheaper).
                        # Only prepared statements (and PL/pgSQL's cached plans) follow this.
                        await cursor.execute("SET plan_cache_mode = force_generic_plan", ())
                    await cursor.execute(f"PREPARE {name} AS {body}", ())
            ready.add(name)
        try:
            return await fetch_all(execute, args)
        except peewee.DatabaseError as exc:
            causes = [*exc.args[:1], exc.__cause__, exc.__context__]
            if not any(sqlstate(c) == "26000" for c in causes):  # invalid_sql_statement_name
                raise
            # The session lost its statements (e.g. DISCARD ALL): prepare again next time.
            ready.clear()
            return await fetch_all(sql, params)


class RideAlong:
    """A hot read that can share the signed-in user's statement: one round
    trip for "who is asking" and "what they asked for" (``models.accounts.
    sessions.user_with_read``; handlers name theirs in ``BaseHandler.reads``).

    ``sql`` is a SELECT whose only parameter is ``%(user_id)s``: the user id
    the access token names. It runs before that user is confirmed, so it must
    be harmless to read for any validly signed token (its rows are dropped
    when the token is refused, and are not handed to a handler whose role
    check fails). The rows lose their order on the way: sort them in Python.
    """

    __slots__ = ("sql",)

    def __init__(self, sql: str) -> None:
        self.sql = sql

    async def fetch(self, user_id: int | None) -> list[tuple]:
        """The rows on their own (one prepared statement), when no user lookup carried them."""
        return await fetch_prepared(self.sql, {"user_id": user_id})


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


def session_options(timeout: float | None = None) -> str:
    """libpq ``options`` of every connection: the settings the SQL reads by
    name (``avantlush.media_url``: see models/core/media.py and migration 0015)
    and, with ``timeout``, the statement time limit."""
    import settings

    value = settings.MEDIA_URL.replace("\\", "\\\\").replace(" ", "\\ ")
    options = f"-c avantlush.media_url={value}"
    if timeout:
        options += f" -c statement_timeout={int(timeout * 1000)}"
    return options


def init_db(url: str, pool_size: int = 10, timeout: float | None = 5, wait: float | None = None) -> None:
    """Set up the pool; ``timeout``: seconds for a connect, for waiting on a
    pooled connection and for each statement (None: no limit). A statement
    past it is cancelled by the server (``statement_timeout``). ``wait``: the
    wait for a pooled connection when it should differ (default: ``timeout``,
    but never below two seconds, so that a tiny bulk-statement limit does not
    fail the first connect). With PostgreSQL down, a request waits this long
    before its 503."""
    name, params = connect_params(url)
    if wait is None:
        wait = max(timeout, 2.0) if timeout else 3600.0
    params["pool_params"] = {"min_size": 0, "max_size": pool_size, "timeout": wait}
    params["connect_timeout"] = max(1, round(timeout)) if timeout else None
    params["options"] = session_options(timeout)
    if params["connect_timeout"] is None:
        del params["connect_timeout"]
    db.init(name, **params)


def plain_connect_params() -> dict[str, Any]:
    """The pool's connection parameters for a plain (psycopg2) connection:
    no pool settings, no statement time limit (the search index streams the
    whole catalog), ``connect_timeout`` in whole seconds."""
    params = {k: v for k, v in db.connect_params.items() if k not in ("pool_params", *_POOL_KEYS)}
    params["options"] = session_options()
    timeout = params.pop("connect_timeout", None)
    if timeout:
        params["connect_timeout"] = max(1, round(timeout))
    return params


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
    return half_up(value, 2)


def half_up(value: Any, places: int) -> Decimal:
    """``value`` rounded half up to ``places`` decimals: the one rounding rule, for
    money (``money``) and for rates and percentages alike (Python's round() rounds
    binary floats and, for Decimals, half to even: 0.125 would be 0.12)."""
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    return exact.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def ratio(part: Any, whole: Any, places: int) -> float:
    """``part / whole`` computed exactly and rounded half up once, as a JSON number (0 for 0/0)."""
    return float(half_up(Decimal(part) / Decimal(whole), places)) if whole else 0.0


def average(total: Any, count: int) -> Decimal:
    """The mean of ``count`` amounts summing to ``total``: the exact quotient rounded
    once with ``money`` (never a rounded total divided and rounded again), 0.00 for none."""
    return money(Decimal(str(total) if not isinstance(total, Decimal) else total) / count) if count else money(0)


# The largest amount a money column (NUMERIC(12,2)) holds.
MONEY_MAX = Decimal("9999999999.99")


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
