"""Periodic clean-up, run hourly by Celery beat (``tasks.maintenance.cleanup``).

* finished outbox rows (``state = 'done'``) older than ``OUTBOX_RETENTION_DAYS``, and workers
  (``outbox_worker``) silent for a day
  (failed rows stay until retried with ``python server.py jobs --retry``);
* files of finished CSV exports older than ``EXPORT_RETENTION_HOURS`` (the
  ExportJob row stays; its download then answers 404 "no longer available"),
  and ``.part`` files left by a crashed export;
* Idempotency-Key records older than 24 h (models/core/idempotency.py);
* whatever the domains register here: ``register("name", prune_fn)`` in a
  domain module (an async function returning how many it removed) named in
  ``models.core.domains``.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Awaitable, Callable

import settings
from models.core import domains, storage
from models.core.db import fetch_all, utcnow

log = logging.getLogger("avantlush.cleanup")

BATCH = 5000

_HOOKS: dict[str, Callable[[], Awaitable[int]]] = {}


def register(name: str, fn: Callable[[], Awaitable[int]]) -> None:
    _HOOKS[name] = fn


async def prune_outbox() -> int:
    # Workers gone for a day (each start of a worker beats under a name of its own).
    await fetch_all("DELETE FROM outbox_worker WHERE seen_at < now() - interval '1 day' RETURNING 1")
    removed = 0
    while True:
        rows = await fetch_all(
            "DELETE FROM outbox_job WHERE id IN (SELECT id FROM outbox_job WHERE finished_at IS NOT NULL"
            " AND state = 'done' AND finished_at < now() - make_interval(secs => %s) LIMIT %s) RETURNING 1",
            (settings.OUTBOX_RETENTION_DAYS * 86400, BATCH))
        removed += len(rows)
        if len(rows) < BATCH:
            return removed


async def prune_exports() -> int:
    from models.core.exports import ExportJob, export_key

    cutoff = utcnow() - dt.timedelta(hours=settings.EXPORT_RETENTION_HOURS)
    jobs = await ExportJob.select(ExportJob.id).where(
        ExportJob.status.in_(["done", "failed"]) & (ExportJob.finished_at < cutoff)
        & ExportJob.file.is_null(False)).aio_execute()
    ids = [job.id for job in jobs]
    files = storage.get()
    count = 0
    for job_id in ids:
        if await files.exists(export_key(job_id)):
            await files.delete(export_key(job_id))
            count += 1
    loop = asyncio.get_running_loop()

    def remove_leftovers() -> int:
        removed = 0
        oldest = time.time() - settings.EXPORT_RETENTION_HOURS * 3600
        # A crashed export's half-built file, where it was being built.
        for part in [*settings.EXPORT_DIR.glob("*.part"), *(settings.DATA_DIR / "scratch").glob("*.part")]:
            try:
                if part.stat().st_mtime < oldest:
                    part.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    count += await loop.run_in_executor(None, remove_leftovers)
    if ids:
        await ExportJob.update(file=None).where(ExportJob.id.in_(ids)).aio_execute()
    return count


async def prune_idempotency() -> int:
    """Idempotency-Key records older than their 24 h (models/core/idempotency.py)."""
    from models.core.idempotency import purge_expired

    return await purge_expired()


register("outbox", prune_outbox)
register("idempotency", prune_idempotency)
register("exports", prune_exports)


async def run() -> dict[str, int]:
    """Run every clean-up; one failing does not stop the others."""
    domains.load()
    done: dict[str, int] = {}
    for name, fn in list(_HOOKS.items()):
        try:
            done[name] = await fn()
        except Exception:
            log.exception("clean-up %s failed", name)
    log.info("clean-up: %s", ", ".join(f"{k} {v}" for k, v in done.items()))
    return done
