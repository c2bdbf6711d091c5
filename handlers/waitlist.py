"""The waitlist and its email preview page."""
from __future__ import annotations

from handlers.base import BaseHandler, Route, api
from handlers.fields import Email, In, Out
from models import waitlist
from models.db import iso
from models.mail import render


class WaitlistIn(In):
    email: Email


class WaitlistOut(Out):
    message: str
    data: dict


class WaitlistSignupHandler(BaseHandler):
    rate_scope = "waitlist"

    @api(body=WaitlistIn, response=WaitlistOut, status=201)
    async def post(self):
        """Join the waitlist; a confirmation email is sent."""
        data = self.parse(WaitlistIn)
        entry = await waitlist.join_waitlist(data.email)
        self.reply({"message": "Successfully joined the waitlist!",
                    "data": {"email": entry.email, "created_at": iso(entry.created_at)}}, 201)


class PreviewEmailHandler(BaseHandler):
    @api(content_type="text/html")
    async def get(self):
        """The waitlist confirmation email, rendered as an HTML page."""
        _, html, _ = render("waitlist", email=self.get_query_argument("email", ""))
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(html)


routes = [
    Route("/api/waitlist/signup/", WaitlistSignupHandler),
    Route("/api/preview_email/", PreviewEmailHandler),
    Route("/preview_email/", PreviewEmailHandler),
]
