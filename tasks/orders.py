"""Order tasks: confirmation and admin notice, status and tracking emails
(they take ids and re-read the order), and the expiry of unpaid orders."""
from __future__ import annotations

import settings
from celery_app import app
from models.core.mail import send
from models.orders import notify
from models.orders.tables import STATUS_DISPLAY
from tasks._runner import run_async
from tasks.emails import RETRY


@app.task(**RETRY)
def order_placed(order_id: int) -> list[str]:
    """The customer's confirmation and the staff notice of a new order."""
    ctx = run_async(notify.order_context, order_id)
    if ctx is None:
        return []
    sent = []
    if ctx["customer_email"]:
        sent.append(send(ctx["customer_email"], "order_confirmation", **ctx))
    if settings.ADMIN_NOTIFICATION_EMAILS:
        sent.append(send(settings.ADMIN_NOTIFICATION_EMAILS, "admin_new_order", **ctx))
    return sent


@app.task(**RETRY)
def order_status_changed(order_id: int, status: str) -> str | None:
    ctx = run_async(notify.order_context, order_id)
    if ctx is None or not ctx["customer_email"]:
        return None
    ctx["status"], ctx["status_display"] = status, STATUS_DISPLAY.get(status, status)
    return send(ctx["customer_email"], "order_status", **ctx)


@app.task(**RETRY)
def tracking_event_added(event_id: int) -> str | None:
    ctx = run_async(notify.tracking_context, event_id)
    if ctx is None or not ctx["customer_email"]:
        return None
    return send(ctx["customer_email"], "order_tracking", **ctx)


@app.task
def expire_unpaid_orders() -> int:
    """Beat, every minute: cancel unpaid orders whose reservation ended (those
    that waited for the shopper's payment get "payment not completed", not
    "order cancelled": models/checkout/payment.py ``expire_unpaid``), and the
    card payments of theirs still waiting for 3-D Secure at the provider."""
    from models.checkout import payment

    expired = run_async(payment.expire_unpaid)
    if expired:
        run_async(payment.release_expired, expired)
    return len(expired)
