"""CSV export tasks."""
from __future__ import annotations

from celery_app import app  # noqa: F401
