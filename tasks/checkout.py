"""Checkout tasks: the "payment not completed" email of an order that expired
while its payment waited for the shopper, and the detaching at the provider
of a card saved with a payment that never succeeded (models/checkout/)."""
from __future__ import annotations

import settings
from celery_app import app
from models.checkout import cards
from models.core.mail import send
from models.orders import notify
from tasks._runner import run_async
from tasks.emails import RETRY


@app.task(**RETRY)
def payment_not_completed(order_id: int) -> str | None:
    """Tell the shopper their payment was not completed and the order not
    placed (nothing charged, the cart kept); nothing if a late payment has
    revived the order meanwhile (its confirmation goes instead)."""
    ctx = run_async(notify.order_context, order_id)
    if ctx is None or not ctx["customer_email"] or ctx["status"] != "CANCELLED":
        return None
    return send(ctx["customer_email"], "payment_not_completed", cart_url=f"{settings.FRONTEND_URL}/cart",
                minutes=settings.UNPAID_ORDER_TTL_MINUTES, **ctx)


@app.task(acks_late=True)
def detach_card(provider: str, reference: str, attempt: int = 0) -> bool:
    """Detach a discarded pending card at its provider (unless saved again meanwhile); while the
    provider is unreachable, queued again through the outbox (``cards.detach_or_retry``)."""
    return run_async(cards.detach_or_retry, provider, reference, attempt)
