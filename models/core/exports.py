"""CSV exports: streamed to the client, or built by a Celery task into a file
``exports/<job id>.csv`` of the shared storage (``?async=1``, models/core/storage.py:
any web process can then serve it) and tracked as an ExportJob.

Each kind of export registers an ``ExportKind``: its header row, an async
generator of row batches taking the (validated) filters, and the function that
validates those filters. Rows come from a PostgreSQL server-side cursor
(``fetch_batches``) so memory stays flat whatever the number of rows.

Adding a kind (orders, customers): call ``register(ExportKind(...))`` in a
domain module named in ``models.core.domains``.
"""
from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, AsyncIterator, Callable

import peewee as pw
from playhouse.postgres_ext import BinaryJSONField

from models.core import domains, storage
from models.core.db import BaseModel, db, fetch_all, iso, transaction, utcnow
from models.core.errors import AppError, Conflict, NotFound
from models.core.jobs import enqueue

log = logging.getLogger("avantlush.exports")

BATCH_ROWS = 1000
# Cells a spreadsheet would run as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportJob(BaseModel):
    """A CSV export built by a Celery task (``?async=1``)."""

    id = pw.UUIDField(primary_key=True)
    kind = pw.CharField(max_length=20)  # products | orders | customers
    params = BinaryJSONField(default=dict, index=False)
    status = pw.CharField(max_length=10, default="pending")  # pending|running|done|failed
    file = pw.CharField(max_length=500, null=True)
    row_count = pw.IntegerField(null=True)
    error = pw.TextField(null=True)
    # users.id (a foreign key, ON DELETE SET NULL, in migration 0002); a plain
    # column here because plumbing imports no domain.
    created_by = pw.IntegerField(column_name="created_by_id", null=True)
    created_at = pw.DateTimeField(default=utcnow)
    finished_at = pw.DateTimeField(null=True)


@dataclass(frozen=True)
class ExportKind:
    name: str
    header: tuple[str, ...]
    rows: Callable[[dict[str, Any]], AsyncIterator[list[list[Any]]]]  # filters -> batches of rows
    clean_filters: Callable[[dict[str, Any]], dict[str, Any]]  # raises ValidationFailed
    filename: str


_KINDS: dict[str, ExportKind] = {}


def register(kind: ExportKind) -> ExportKind:
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> ExportKind:
    if name not in _KINDS:
        domains.load()  # the kinds register on import, in the worker as in the web process
    try:
        return _KINDS[name]
    except KeyError:
        raise NotFound(f"Unknown export kind {name!r}.") from None


# --- reading rows -------------------------------------------------------------

async def fetch_batches(query: pw.Query | str, params: tuple | list | None = None,
                        batch: int = BATCH_ROWS) -> AsyncIterator[list[tuple]]:
    """Yield the rows of ``query`` in batches through a server-side cursor.

    The cursor lives in a transaction on one pooled connection, held until the
    generator finishes or is closed: consumers must exhaust it or ``aclose()`` it
    (``contextlib.aclosing``).
    """
    if isinstance(query, pw.Query):
        sql, params = query.sql()
    else:
        sql = query
    name = f"export_{uuid.uuid4().hex}"
    async with db.aio_atomic():
        await db.aio_execute_sql(f"DECLARE {name} NO SCROLL CURSOR FOR {sql}", params or ())
        while True:
            rows = await fetch_all(f"FETCH {int(batch)} FROM {name}")
            if rows:
                yield rows
            if len(rows) < batch:
                break
        await db.aio_execute_sql(f"CLOSE {name}")


# --- CSV --------------------------------------------------------------------------

def safe_cell(value: Any) -> Any:
    """A CSV cell: text that a spreadsheet would evaluate gets a leading quote;
    numbers are written as they are (a negative amount is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


async def _csv_batches(kind: ExportKind, filters: dict[str, Any]) -> AsyncIterator[tuple[str, int]]:
    """CSV text in chunks with their row counts; the header travels with the
    first batch, so that a failing query never leaves a half-sent response."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(kind.header)
    sent_header = False
    rows_gen = kind.rows(filters)
    try:
        async for batch in rows_gen:
            writer.writerows([safe_cell(c) for c in row] for row in batch)
            yield buf.getvalue(), len(batch)
            sent_header = True
            buf.seek(0)
            buf.truncate()
    finally:
        await rows_gen.aclose()
    if not sent_header:
        yield buf.getvalue(), 0


async def csv_chunks(kind_name: str, filters: dict[str, Any]) -> AsyncIterator[str]:
    """The CSV of export ``kind_name`` (filters already cleaned) in chunks of text."""
    gen = _csv_batches(get_kind(kind_name), filters)
    try:
        async for text, _count in gen:
            yield text
    finally:
        await gen.aclose()


def clean_filters(kind_name: str, params: dict[str, Any]) -> dict[str, Any]:
    return get_kind(kind_name).clean_filters(params)


# --- export jobs ------------------------------------------------------------------

async def start_export(kind_name: str, filters: dict[str, Any], user: Any | None) -> ExportJob:
    """Record a pending export job and queue its build (after the commit)."""
    get_kind(kind_name)
    job_id = uuid.uuid4()
    async with transaction():
        await ExportJob.insert(id=job_id, kind=kind_name, params=filters, status="pending",
                               created_by=user.id if user is not None else None, created_at=utcnow()).aio_execute()
        await enqueue("tasks.exports.build_export", str(job_id))
    return await ExportJob.aio_get(ExportJob.id == job_id)


async def load_export_job(job_id: str) -> ExportJob:
    try:
        key = uuid.UUID(str(job_id))
    except ValueError:
        raise NotFound("Export not found.") from None
    job = await ExportJob.aio_get_or_none(ExportJob.id == key)
    if job is None:
        raise NotFound("Export not found.")
    return job


def export_key(job_id: Any) -> str:
    """The job's file in the storage."""
    return f"exports/{job_id}.csv"


def export_payload(job: ExportJob, base_url: str) -> dict[str, Any]:
    """``base_url`` is the server's absolute URL (scheme and host)."""
    done = job.status == "done"
    return {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "row_count": job.row_count,
        "download_url": f"{base_url}/api/exports/{job.id}/download/" if done else None,
        "error": job.error,
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
    }


async def build_export(job_id: str) -> str | None:
    """Write the CSV of job ``job_id`` to the storage and mark it done (a Celery task).

    Safe to run twice: a finished job is left alone. On failure the job is marked
    failed with the reason and the error re-raised (for the task's retry policy).
    """
    job = await ExportJob.aio_get_or_none(ExportJob.id == uuid.UUID(str(job_id)))
    if job is None or job.status == "done":
        return None
    await ExportJob.update(status="running", error=None).where(ExportJob.id == job.id).aio_execute()
    key = export_key(job.id)
    files = storage.get()
    loop = asyncio.get_running_loop()
    rows = 0
    tmp = await loop.run_in_executor(None, files.scratch_path, key)  # built locally, then stored whole
    try:
        kind = get_kind(job.kind)
        filters = kind.clean_filters(dict(job.params or {}))
        fh = await loop.run_in_executor(None, lambda: open(tmp, "w", encoding="utf-8", newline=""))
        try:
            gen = _csv_batches(kind, filters)
            try:
                async for text, count in gen:
                    await loop.run_in_executor(None, fh.write, text)
                    rows += count
            finally:
                await gen.aclose()
        finally:
            await loop.run_in_executor(None, fh.close)
        await files.put_file(key, tmp)
    except Exception as exc:
        log.exception("export %s failed", job_id)
        await ExportJob.update(status="failed", error=str(exc)[:1000] or type(exc).__name__,
                               finished_at=utcnow()).where(ExportJob.id == job.id).aio_execute()
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    await ExportJob.update(status="done", file=key, row_count=rows,
                           finished_at=utcnow()).where(ExportJob.id == job.id).aio_execute()
    return key


async def export_file(job_id: str) -> tuple[ExportJob, int, AsyncIterator[bytes]]:
    """The finished job, its file's size and bytes (from the shared storage).
    Raises NotFound, or Conflict while not ready."""
    job = await load_export_job(job_id)
    if job.status != "done":
        if job.status == "failed":
            raise AppError("The export failed.", {"export": [job.error or "failed"]})
        raise Conflict("The export is not ready yet.", export_status=job.status)
    try:
        size, chunks = await storage.get().open(export_key(job.id))
    except FileNotFoundError:
        raise NotFound("The export file is no longer available.") from None
    return job, size, chunks
