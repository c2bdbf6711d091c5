"""Shipment and return emails (they take ids and re-read the data)."""
from __future__ import annotations

from celery_app import app
from models.core.mail import send
from models.fulfilment import notify
from tasks._runner import run_async
from tasks.emails import RETRY


@app.task(**RETRY)
def shipment_updated(shipment_id: int, status: str) -> str | None:
    """The customer's email of a shipment that left or arrived."""
    ctx = run_async(notify.shipment_context, shipment_id, status)
    if ctx is None or not ctx["customer_email"]:
        return None
    return send(ctx["customer_email"], "shipment_update", **ctx)


@app.task(**RETRY)
def return_updated(return_id: int, status: str, note: str = "") -> str | None:
    """The customer's email at each step of a return (``note``: what staff wrote at this step)."""
    ctx = run_async(notify.return_context, return_id, status, note)
    if ctx is None or not ctx["customer_email"]:
        return None
    return send(ctx["customer_email"], "return_update", **ctx)
