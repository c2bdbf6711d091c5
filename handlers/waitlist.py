"""The waitlist."""
from __future__ import annotations

from handlers.core.base import BaseHandler
from handlers.core.fields import Email, In, Out
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.accounts import waitlist
from models.core.db import iso


class WaitlistIn(In):
    email: Email


class WaitlistOut(Out):
    message: str
    data: dict


class WaitlistSignupHandler(BaseHandler):
    rate_scope = "waitlist"

    @api(body=WaitlistIn, response=WaitlistOut, status=201, rejects={400: "an email address already on the waitlist"})
    async def post(self):
        """Join the waitlist; a confirmation email is sent."""
        data = self.parse(WaitlistIn)
        entry = await waitlist.join_waitlist(data.email)
        self.reply({"message": "Successfully joined the waitlist!",
                    "data": {"email": entry.email, "created_at": iso(entry.created_at)}}, 201)


routes = [
    Route("/api/waitlist/signup/", WaitlistSignupHandler),
]
