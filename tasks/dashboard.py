"""Dashboard rollups: the nightly rebuild from the source rows (the triggers
keep them exact meanwhile; the rebuild repairs anything loaded around them)."""
from __future__ import annotations

from celery_app import app
from models.core.db import CONNECTION_ERRORS
from models.dashboard import metrics
from tasks._runner import run_bulk


@app.task(autoretry_for=CONNECTION_ERRORS,
          retry_backoff=True, max_retries=5, acks_late=True)
def rebuild_rollups() -> None:
    """Recompute order_daily, customer_daily and the customers' order figures (idempotent)."""
    run_bulk(metrics.rebuild_rollups)
