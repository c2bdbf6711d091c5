"""Catalog upkeep tasks (recommendations)."""
from __future__ import annotations

from celery_app import app
from models.catalog import recommend
from tasks._runner import run_bulk


@app.task(acks_late=True)
def rebuild_recommendations() -> int:
    """Recompute the "bought together" recommendations (hourly, from beat)."""
    return run_bulk(recommend.rebuild_complementary)
