"""CSV exports: the shared answer of every ``…/export/`` endpoint (a streamed
CSV, or with ``?async=1`` a background job), and the job status/download URLs."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

from handlers.core.base import ADMIN, BaseHandler
from handlers.core.fields import Out
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.core import exports
from models.core.errors import ValidationFailed


class ExportStartedOut(Out):
    id: str
    status: str
    status_url: str


class ExportJobOut(Out):
    id: str
    kind: str
    status: str
    row_count: int | None
    download_url: str | None
    error: str | None
    created_at: str
    finished_at: str | None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


async def export_csv(handler: BaseHandler, kind: str) -> None:
    """Answer an export request for ``kind`` with the query-string filters.

    Default: stream the CSV as it is read (server-side cursor, one chunk per
    batch, memory flat in the number of rows). ``?async=1``: 202 with a job
    whose status is at ``status_url``; a Celery task writes the file.
    """
    params = {k: v[-1].decode("utf-8", "replace") for k, v in handler.request.query_arguments.items()}
    filters = exports.clean_filters(kind, params)  # a 400 goes out before any CSV byte
    flag = (params.get("async") or "").strip().lower()
    if flag not in ("", "1", "0", "true", "false", "yes", "no", "on", "off"):
        raise ValidationFailed.field("async", "Must be a valid boolean.")
    if _truthy(flag):
        job = await exports.start_export(kind, filters, handler.current_user)
        handler.reply({"id": str(job.id), "status": job.status,
                       "status_url": f"{handler.base_url()}/api/exports/{job.id}/"}, 202)
        return
    await stream(handler, exports.csv_chunks(kind, filters), exports.get_kind(kind).filename)


async def stream(handler: BaseHandler, chunks: AsyncIterator[str | bytes], filename: str) -> None:
    """Send ``chunks`` as a CSV attachment, flushing each one to the client."""
    handler.set_header("Content-Type", "text/csv; charset=utf-8")
    handler.set_header("Content-Disposition", f"attachment; filename={filename}")
    handler.set_header("Cache-Control", "no-store")
    async with contextlib.aclosing(chunks):  # releases the cursor's connection if the client goes away
        async for chunk in chunks:
            handler.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            await handler.flush()
    handler.finish()


class ExportJobHandler(BaseHandler):
    role = ADMIN

    @api(response=ExportJobOut, path={"id": {"format": "uuid", "pattern": None}})
    async def get(self, id: str):
        """Status of an asynchronous export (download_url once it is done)."""
        job = await exports.load_export_job(id)
        self.reply(exports.export_payload(job, self.base_url()))


class ExportDownloadHandler(BaseHandler):
    role = ADMIN

    @api(content_type="text/csv", path={"id": {"format": "uuid", "pattern": None}},
         errors={409: "The export is not finished yet (or failed)"})
    async def get(self, id: str):
        """The CSV file of a finished export (409 while it is still being built)."""
        job, size, chunks = await exports.export_file(id)
        self.set_header("Content-Length", str(size))
        await stream(self, chunks, exports.get_kind(job.kind).filename)


routes = [
    Route("/api/exports/{id}/", ExportJobHandler),
    Route("/api/exports/{id}/download/", ExportDownloadHandler),
]
