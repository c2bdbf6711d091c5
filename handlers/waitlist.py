"""The waitlist and its email preview page."""
from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import quote

from pydantic import Field

from handlers.base import BaseHandler, Route, api
from handlers.fields import Email, In, Out, Query, choices_doc
from models import waitlist
from models.db import iso
from models.errors import NotFound
from models.mail import render_preview, template_names


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


class PreviewQuery(Query):
    template: Annotated[str | None, choices_doc(template_names(), description="Template to render")] = None
    email: str | None = Field(default=None, max_length=254, description="Recipient shown in the sample")


class PreviewEmailHandler(BaseHandler):
    @api(query=PreviewQuery, content_type="text/html", errors={404: "No email template has this name"})
    async def get(self):
        """Email previews for marketing: the list of templates, or ``?template=<name>`` rendered with sample data."""
        args = self.query(PreviewQuery)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        if not args.template:
            items = "".join(f'<li><a href="?template={quote(n)}">{escape(n)}</a></li>' for n in template_names())
            self.finish('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                        '<title>AvantLush email previews</title></head><body><h1>AvantLush email previews</h1>'
                        f'<ul>{items}</ul></body></html>')
            return
        try:
            _, html = render_preview(args.template, email=args.email)
        except KeyError:
            raise NotFound("No email template has this name.") from None
        self.finish(html)


routes = [
    Route("/api/waitlist/signup/", WaitlistSignupHandler),
    Route("/api/preview_email/", PreviewEmailHandler),
    Route("/preview_email/", PreviewEmailHandler),
]
