"""Abandoned-cart recovery: the periodic pass (Celery beat) and the reminder emails."""
from __future__ import annotations

from celery_app import app
from models.cart import abandoned
from models.core.mail import send
from tasks._runner import run_async, run_bulk
from tasks.emails import RETRY


@app.task(acks_late=True)
def process_abandoned_carts() -> dict:
    """Mark newly abandoned carts and queue the reminders that are due."""
    return run_bulk(abandoned.process_abandoned_carts)


@app.task(**RETRY)
def send_cart_reminder(abandoned_cart_id: int, number: int) -> str | None:
    """Reminder ``number`` (1 or 2) of an abandoned cart, unless an order or an
    emptied cart has closed it since."""
    ctx = run_async(abandoned.reminder_context, abandoned_cart_id, number)
    if ctx is None:
        return None
    return send(ctx.pop("email"), "cart_reminder", **ctx)
