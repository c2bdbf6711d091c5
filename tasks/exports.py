"""CSV export tasks: build the file of an ExportJob (``?async=1`` exports)."""
from __future__ import annotations

from celery_app import app
from models.core import exports
from models.core.db import CONNECTION_ERRORS
from tasks._runner import run_bulk


@app.task(autoretry_for=(*CONNECTION_ERRORS, OSError),
          retry_backoff=True, max_retries=5, acks_late=True)
def build_export(job_id: str) -> str | None:
    """Write the CSV of export job ``job_id`` under EXPORT_DIR and mark it done."""
    return run_bulk(exports.build_export, job_id)
