"""Upkeep run by Celery beat: clean-up of old outbox rows, export files and
whatever else registers with models.core.cleanup."""
from __future__ import annotations

from celery_app import app
from models.core import cleanup as cleanup_mod
from tasks._runner import run_bulk


@app.task(acks_late=True)
def cleanup() -> dict[str, int]:
    return run_bulk(cleanup_mod.run)
