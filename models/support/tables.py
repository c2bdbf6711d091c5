"""Support tables (migrations/0009_support_customers_dashboard.sql)."""
from __future__ import annotations

import peewee as pw

from models.accounts.tables import User
from models.core.db import BaseModel, utcnow

TICKET_STATUSES = ("OPEN", "IN_PROGRESS", "RESOLVED", "CLOSED")
EVENT_KINDS = ("reply", "status")


class SupportTicket(BaseModel):
    user = pw.ForeignKeyField(User, backref="support_tickets", on_delete="CASCADE")
    full_name = pw.CharField(max_length=255, default="")
    subject = pw.CharField(max_length=255, default="")
    message = pw.TextField()
    status = pw.CharField(max_length=12, default="OPEN",
                          constraints=[pw.Check("status IN ('OPEN', 'IN_PROGRESS', 'RESOLVED', 'CLOSED')")])
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "support_ticket"


class TicketEvent(BaseModel):
    """A staff reply or status change; ``emailed_at`` makes the email task idempotent."""

    ticket = pw.ForeignKeyField(SupportTicket, backref="events", on_delete="CASCADE")
    author = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    kind = pw.CharField(max_length=10, constraints=[pw.Check("kind IN ('reply', 'status')")])
    message = pw.TextField(default="")
    status = pw.CharField(max_length=12, default="")
    created_at = pw.DateTimeField(default=utcnow)
    emailed_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "support_ticket_event"
