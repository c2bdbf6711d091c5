"""Support tickets: ``help/`` (a customer's own; all of them for staff) and
``support/submit/``."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from handlers.core.base import USER, BaseHandler
from handlers.core.fields import In, OptionalText, Out, Text, upper_choice
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.support import actions

TicketStatus = Annotated[Literal["OPEN", "IN_PROGRESS", "RESOLVED", "CLOSED"], BeforeValidator(upper_choice)]


class TicketIn(In):
    full_name: OptionalText = Field(default="", max_length=255)
    subject: OptionalText = Field(default="", max_length=255)
    message: Text = Field(max_length=5000)


class SubmitIn(In):
    subject: Text = Field(max_length=255)
    message: Text = Field(max_length=5000)


class TicketPatch(In):
    """Customers: ``status`` CLOSED and their own text only. Staff: any status and a ``reply``
    (both are emailed to the customer)."""

    status: TicketStatus | None = None
    reply: Text | None = Field(default=None, max_length=5000)
    full_name: Text | None = Field(default=None, max_length=255)
    subject: Text | None = Field(default=None, max_length=255)
    message: Text | None = Field(default=None, max_length=5000)


class TicketListQuery(In):
    status: TicketStatus | None = None


class ReplyOut(Out):
    id: int
    message: str
    created_at: str


class TicketOut(Out):
    id: int
    full_name: str
    subject: str
    message: str
    status: TicketStatus
    created_at: str
    updated_at: str


class TicketDetailOut(TicketOut):
    replies: list[ReplyOut]


class SubmitOut(Out):
    status: str
    message: str
    ticket_id: int


class TicketListHandler(BaseHandler):
    role = USER

    @api(query=TicketListQuery, response=list[TicketOut])
    async def get(self):
        """The user's own tickets (every ticket for staff), newest first."""
        q = self.query(TicketListQuery)
        self.reply([actions.ticket_payload(t) for t in await actions.list_tickets(self.current_user, q.status)])

    @api(body=TicketIn, response=TicketOut, status=201)
    async def post(self):
        """Open a support ticket."""
        data = self.parse(TicketIn)
        ticket = await actions.create_ticket(self.current_user, data.message, data.full_name, data.subject)
        self.reply(actions.ticket_payload(ticket), 201)


class TicketHandler(BaseHandler):
    role = USER

    @api(response=TicketDetailOut)
    async def get(self, id: str):
        """One ticket with the staff replies (another user's ticket is a 404)."""
        ticket = await actions.load_ticket_for(self.current_user, int(id))
        self.reply(actions.ticket_payload(ticket, await actions.ticket_replies(ticket.id)))

    @api(body=TicketPatch, response=TicketDetailOut)
    async def patch(self, id: str):
        """Close a ticket (customers) or reply / change its status (staff)."""
        data = self.parse(TicketPatch)
        ticket = await actions.update_ticket(self.current_user, int(id), data.model_dump(exclude_unset=True))
        self.reply(actions.ticket_payload(ticket, await actions.ticket_replies(ticket.id)))


class SupportSubmitHandler(BaseHandler):
    role = USER

    @api(body=SubmitIn, response=SubmitOut, status=201)
    async def post(self):
        """Open a support ticket with a subject."""
        data = self.parse(SubmitIn)
        ticket = await actions.create_ticket(self.current_user, data.message, subject=data.subject)
        self.reply({"status": "success", "message": "Support ticket submitted successfully",
                    "ticket_id": ticket.id}, 201)


routes = [
    Route("/api/help/", TicketListHandler),
    Route("/api/help/{id:int}/", TicketHandler),
    Route("/api/support/submit/", SupportSubmitHandler),
]
