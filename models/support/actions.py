"""Support use cases. Customers see and close only their own tickets (another
user's ticket is a 404); staff see all, reply and change status, and each of
those is emailed to the ticket's owner after the commit."""
from __future__ import annotations

from typing import Any

from models.accounts.tables import User
from models.core.db import iso, transaction, utcnow
from models.core.errors import Forbidden, NotFound
from models.core.jobs import enqueue
from models.support.tables import SupportTicket, TicketEvent

NOT_FOUND = "Support ticket not found"
CUSTOMER_STATUS = "CLOSED"  # the one status a customer may set
STATUS_LABELS = {"OPEN": "Open", "IN_PROGRESS": "In progress", "RESOLVED": "Resolved", "CLOSED": "Closed"}


def ticket_payload(t: SupportTicket, replies: list[TicketEvent] | None = None) -> dict[str, Any]:
    data = {
        "id": t.id,
        "full_name": t.full_name,
        "subject": t.subject,
        "message": t.message,
        "status": t.status,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    }
    if replies is not None:
        data["replies"] = [{"id": e.id, "message": e.message, "created_at": iso(e.created_at)} for e in replies]
    return data


async def list_tickets(user: User, status: str | None = None) -> list[SupportTicket]:
    """A customer's own tickets, or every ticket for staff; newest first (one query)."""
    query = SupportTicket.select()
    if not user.is_staff:
        query = query.where(SupportTicket.user == user.id)
    if status:
        query = query.where(SupportTicket.status == status)
    return list(await query.order_by(SupportTicket.created_at.desc(), SupportTicket.id.desc()).aio_execute())


async def create_ticket(user: User, message: str, full_name: str = "", subject: str = "") -> SupportTicket:
    """Open a ticket for ``user`` (status OPEN); the name defaults to the account's."""
    now = utcnow()
    return await SupportTicket.aio_create(user=user.id, full_name=full_name or user.full_name or user.email,
                                          subject=subject, message=message, status="OPEN",
                                          created_at=now, updated_at=now)


async def load_ticket_for(user: User, ticket_id: int, lock: bool = False) -> SupportTicket:
    """The ticket if ``user`` may see it (own, or any for staff). Raises NotFound."""
    query = SupportTicket.select().where(SupportTicket.id == ticket_id)
    if not user.is_staff:
        query = query.where(SupportTicket.user == user.id)
    rows = list(await (query.for_update() if lock else query).aio_execute())
    if not rows:
        raise NotFound(NOT_FOUND)
    return rows[0]


async def ticket_replies(ticket_id: int) -> list[TicketEvent]:
    return list(await TicketEvent.select().where((TicketEvent.ticket == ticket_id) & (TicketEvent.kind == "reply"))
                .order_by(TicketEvent.id).aio_execute())


async def update_ticket(user: User, ticket_id: int, changes: dict[str, Any]) -> SupportTicket:
    """Apply ``changes`` (status, reply, full_name, subject, message) in one transaction.

    Customers may edit the text of their own tickets and set status CLOSED, nothing
    else (Forbidden). A staff reply or status change is recorded and emailed to the
    owner once committed. Raises NotFound for a ticket the user may not see.
    """
    status = changes.pop("status", None)
    reply = changes.pop("reply", None)
    if not user.is_staff:
        if reply:
            raise Forbidden("Only staff may reply to a ticket.")
        if status is not None and status != CUSTOMER_STATUS:
            raise Forbidden("Customers may only close their tickets.")
    fields = {k: v for k, v in changes.items() if k in ("full_name", "subject", "message") and v is not None}
    async with transaction():
        ticket = await load_ticket_for(user, ticket_id, lock=True)
        now = utcnow()
        events: list[dict[str, Any]] = []
        if reply:
            events.append({"kind": "reply", "message": reply, "status": status or ticket.status})
        if status is not None and status != ticket.status:
            fields["status"] = status
            if user.is_staff:
                events.append({"kind": "status", "status": status, "message": ""})
        if fields or events:
            await SupportTicket.update(**fields, updated_at=now).where(SupportTicket.id == ticket.id).aio_execute()
        for event in events:
            row = await TicketEvent.aio_create(ticket=ticket.id, author=user.id, created_at=now, **event)
            await enqueue("tasks.support.send_ticket_update", row.id)
    return await SupportTicket.aio_get(SupportTicket.id == ticket_id)


async def ticket_email(event_id: int) -> dict[str, Any] | None:
    """What the customer is told about event ``event_id``, or None when there is
    nothing to send (gone, or already emailed)."""
    rows = list(await TicketEvent.select(TicketEvent, SupportTicket, User)
                .join(SupportTicket).join(User).where(TicketEvent.id == event_id).aio_execute())
    if not rows or rows[0].emailed_at is not None:
        return None
    event = rows[0]
    ticket, owner = event.ticket, event.ticket.user
    return {
        "to": owner.email,
        "name": ticket.full_name or owner.full_name,
        "ticket_id": ticket.id,
        "ticket_subject": ticket.subject or ticket.message[:60],
        "status_label": STATUS_LABELS[event.status or ticket.status],
        "reply": event.message if event.kind == "reply" else "",
    }


async def mark_emailed(event_id: int) -> None:
    await TicketEvent.update(emailed_at=utcnow()).where(
        (TicketEvent.id == event_id) & TicketEvent.emailed_at.is_null()).aio_execute()
