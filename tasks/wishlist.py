"""Wishlist emails: one per stock notification (queued by the database
triggers of migration 0006 through the outbox)."""
from __future__ import annotations

from celery_app import app
from models.core.mail import send
from models.wishlist import notify
from tasks._runner import run_async
from tasks.emails import RETRY


@app.task(**RETRY)
def send_stock_notification(notification_id: int) -> str | None:
    """Email a BACK_IN_STOCK or PRICE_DROP notification, once."""
    found = run_async(notify.notification_email, notification_id)
    if found is None:
        return None
    to, template, ctx = found
    where = send(to, template, **ctx)
    run_async(notify.mark_emailed, notification_id)
    return where
