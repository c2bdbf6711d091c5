"""Support emails: tell a customer about a staff reply or status change."""
from __future__ import annotations

import settings
from celery_app import app
from models.core.mail import send
from models.support import actions
from tasks._runner import run_async
from tasks.emails import RETRY


@app.task(**RETRY)
def send_ticket_update(event_id: int) -> str | None:
    """Email the ticket's owner about event ``event_id``; a redelivery after
    success sends nothing (the event is marked emailed)."""
    ctx = run_async(actions.ticket_email, event_id)
    if ctx is None:
        return None
    to = ctx.pop("to")
    link = f"{settings.FRONTEND_URL}/account/support/{ctx['ticket_id']}"
    where = send(to, "support_update", subject=f"Update on your support ticket #{ctx['ticket_id']}",
                 link=link, **ctx)
    run_async(actions.mark_emailed, event_id)
    return where
