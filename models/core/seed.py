"""Demo data. ``seed_if_empty`` runs from `make run`; ``seed`` from
``python server.py seed``. Each domain registers its own seeder here (the
modules named in ``models.core.domains``), so accounts, the catalog, shipping,
the cart and orders grow the same command, in the order of that list.

Seeders are bulk loads: they commit in batches (a progress bar per phase),
record each batch's progress in ``seed_run`` in the batch's own transaction
(``Run``), so that an interrupted seed keeps its finished batches and the same
command run again continues where it stopped, and they switch off, per
batch, the per-row triggers a load does not need (``triggers_off``), doing
their work once instead (migration 0016). The command runs with
BULK_TIMEOUT_SECONDS, not the web's DB_TIMEOUT_SECONDS.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Awaitable, Callable

import orjson

import settings
from models.core import domains
from models.core.db import db, fetch_one

log = logging.getLogger("avantlush.seed")

# name -> coroutine(count, progress: bool); filled by domain modules.
SEEDERS: dict[str, Callable[[int, bool], Awaitable[None]]] = {}
# name -> coroutine telling whether that domain already holds data; the
# database counts as empty when none does.
HAS_DATA: dict[str, Callable[[], Awaitable[bool]]] = {}


async def seed(products: int = 40, customers: int = 10, orders: int = 0, progress: bool = True) -> None:
    """Add demo data: each domain's seeder with its count (the fixed demo sets
    — the admin, shipping methods, a promo code — count one each)."""
    domains.load()
    fixed = 1 if products else 0  # the fixed demo sets that come with any demo catalog
    counts = {"admin": 1, "products": products, "customers": customers, "orders": orders,
              "shipping_methods": fixed, "promo_codes": fixed}
    try:
        for name, seeder in SEEDERS.items():
            if counts.get(name, 0) > 0:
                await seeder(counts[name], progress)
    except BaseException:
        _close_bars()  # so that the failure is told on a line of its own
        raise


async def seed_if_empty() -> None:
    domains.load()
    for has_data in HAS_DATA.values():
        if await has_data():
            return
    log.info("empty database: adding demo data (SEED_DEMO=0 skips this)")
    await seed(products=40, customers=10, orders=0, progress=False)


# --- resumable runs --------------------------------------------------------------------------

class Run:
    """One seeding of a domain (a ``seed_run`` row): its target count and,
    per phase, what is done. ``Run.open`` resumes the unfinished run of that
    seeder, if any, rather than starting another."""

    def __init__(self, run_id: int, seeder: str, target: int, progress: dict[str, Any], resumed: bool) -> None:
        self.id, self.seeder, self.target, self.progress, self.resumed = run_id, seeder, target, progress, resumed

    @classmethod
    async def open(cls, seeder: str, target: int) -> "Run":
        row = await fetch_one("SELECT id, target, progress FROM seed_run WHERE seeder = %s AND finished_at IS NULL",
                              (seeder,))
        if row is not None:
            run = cls(row[0], seeder, row[1], row[2], resumed=True)
            note = "" if target == run.target else f"; this command's {target:,} are not added"
            log.info("continuing the unfinished seed of %s %s (%s)%s", f"{run.target:,}", seeder,
                     ", ".join(f"{k} {v:,}" for k, v in run.progress.items()) or "nothing committed yet", note)
            return run
        row = await fetch_one("INSERT INTO seed_run (seeder, target) VALUES (%s, %s) RETURNING id", (seeder, target))
        return cls(row[0], seeder, target, {}, resumed=False)

    def done(self, phase: str, default: int = 0) -> int:
        return int(self.progress.get(phase, default))

    async def record(self, phase: str, value: int, ids: list[int] | None = None) -> None:
        """Note ``phase`` done up to ``value`` (and the rows ``ids`` added):
        call it inside the batch's transaction, so that it counts exactly what committed."""
        await db.aio_execute_sql(
            "UPDATE seed_run SET progress = progress || %s::jsonb, ids = ids + %s::int4multirange WHERE id = %s",
            (orjson.dumps({phase: value}).decode(), id_ranges(ids or []), self.id))
        self.progress[phase] = value

    async def finish(self) -> None:
        await db.aio_execute_sql("UPDATE seed_run SET finished_at = timezone('utc', now()) WHERE id = %s",
                                 (self.id,))


def id_ranges(ids: list[int]) -> str:
    """``[3, 4, 5, 9]`` → ``'{[3,5],[9,9]}'`` (an int4multirange literal)."""
    spans: list[list[int]] = []
    for i in sorted(ids):
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return "{" + ",".join(f"[{a},{b}]" for a, b in spans) + "}"


@contextlib.asynccontextmanager
async def triggers_off(*table_triggers: tuple[str, str]):
    """Switch ``(table, trigger)`` pairs off for the body, inside the caller's
    transaction: other writers of those tables wait for the transaction (the
    ALTER's lock) and never see them off; a failure rolls the switch back too."""
    for table, trigger in table_triggers:
        await db.aio_execute_sql(f'ALTER TABLE "{table}" DISABLE TRIGGER "{trigger}"')
    yield
    for table, trigger in table_triggers:
        await db.aio_execute_sql(f'ALTER TABLE "{table}" ENABLE TRIGGER "{trigger}"')


async def after_bulk(sql: str) -> None:
    """Run the once-per-load statement that stands for the triggers a load
    switched off, also after a failure (best effort: the rerun does it again)."""
    try:
        await db.aio_execute_sql(sql)
    except Exception as exc:
        log.warning("%s failed (%s): run the seed again to finish it", sql, exc)


def _close_bars() -> None:
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def progress_bar(total: int, desc: str, unit: str, progress: bool, initial: int = 0):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not progress, dynamic_ncols=True)


def timed_out(exc: BaseException) -> bool:
    """The server cancelled the statement at its ``statement_timeout``
    (SQLSTATE 57014 is a user's cancel too: told apart by its message)."""
    from models.core.db import sqlstate

    return sqlstate(exc) == "57014" and "statement timeout" in str(exc)


def failure_line(exc: BaseException) -> str:
    """The one line a failed seed prints instead of a traceback."""
    import asyncio

    kept = "the finished batches are kept: run the same command again to continue"
    chain, cause = [], exc
    while cause is not None and len(chain) < 10:  # the driver's error, wrapped by peewee's
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, (asyncio.TimeoutError, TimeoutError)) or timed_out(c) for c in chain):
        return (f"seed: a statement ran past BULK_TIMEOUT_SECONDS ({settings.BULK_TIMEOUT_SECONDS:g} s); "
                f"raise it (0: no limit); {kept}")
    if any(isinstance(c, (asyncio.CancelledError, KeyboardInterrupt)) for c in chain):
        # Ctrl-C cancels the statement under way (so does a timeout, told above): its error comes first.
        return f"seed: interrupted; {kept}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"seed: {type(exc).__name__}: {text[:300]}; {kept}"
