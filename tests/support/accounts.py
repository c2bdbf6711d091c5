"""Account steps over HTTP and what the account emails hold."""
from __future__ import annotations

import re

from models.accounts.tables import Customer
from tests.support.mail import mail_body

PASSWORD = "password123"


async def register(api, email="new@example.com", password=PASSWORD, **extra):
    return await api.post("/api/register/", json={"email": email, "password": password, **extra})


async def login(api, email, password=PASSWORD):
    return await api.post("/api/auth/login/", json={"email": email, "password": password})


def link_in(msg, pattern: str) -> re.Match:
    match = re.search(pattern, mail_body(msg))
    assert match, mail_body(msg)
    return match


VERIFY_LINK = r"http://testserver(/api/verify-email/[^/\s]+/[^/\s]+/)"
RESET_LINK = r"http://shop\.test/reset-password/([^/\s]+)/([^/\s]+)/"


async def block(user_id: int) -> None:
    await Customer.update(status="blocked").where(Customer.user == user_id).aio_execute()
