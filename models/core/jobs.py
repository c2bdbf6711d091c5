"""Enqueue Celery work from async code through the transactional outbox.

``enqueue`` writes an ``outbox_job`` row in the caller's transaction (outside
one: in its own), so the job exists exactly when the data it is about was
committed, and no request ever waits on Redis. The relay (models/core/outbox.py)
publishes it; the task marks it finished (tasks/_runner.py).

Triggers (migrations/README.md): the row's insert wakes the relay (0004
outbox_job_notify: pg_notify). SQL enqueues too: 0006 wishlist_notify
queues tasks.wishlist.send_stock_notification from the stock triggers.
"""
from __future__ import annotations

import contextvars
import logging
from typing import Any

from models.core.db import fetch_one
from models.core.outbox import dumps

log = logging.getLogger("avantlush.jobs")

# The outbox id of the job a Celery task is running (None outside one): lets a
# task derive stable keys, e.g. the Message-ID of the email it sends.
current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_job", default=None)


async def enqueue(name: str, *args: Any, **options: Any) -> str:
    """Queue task ``name`` with ``args``; it is published once the surrounding
    transaction commits (and never if it rolls back). Returns the job id.

    ``options``: ``kwargs`` (task keyword arguments), ``countdown`` (seconds to
    wait before publishing) and other ``send_task`` options (``queue``, ``priority``…),
    which must be JSON values.
    """
    kwargs = options.pop("kwargs", None) or {}
    countdown = float(options.pop("countdown", 0) or 0)
    row = await fetch_one(
        "INSERT INTO outbox_job (task, args, kwargs, options, available_at)"
        " VALUES (%s, %s::jsonb, %s::jsonb, %s::jsonb, now() + make_interval(secs => %s)) RETURNING id",
        (name, dumps(list(args)), dumps(kwargs), dumps(options), countdown))
    return str(row[0])
