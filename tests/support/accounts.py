"""Account steps over HTTP and what the account emails hold."""
from __future__ import annotations

import datetime as dt
import re

from models.accounts.tables import Customer, RefreshToken
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


VERIFY_LINK = r"http://shop\.test(/verify-email/[^/\s]+/[^/\s]+/)"  # the storefront page; "/api" + it is the API
RESET_LINK = r"http://shop\.test/reset-password/([^/\s]+)/([^/\s]+)/"


async def block(user_id: int) -> None:
    await Customer.update(status="blocked").where(Customer.user == user_id).aio_execute()


async def age_rotations(seconds: int = 60) -> None:
    """Rotations happened ``seconds`` ago: past REFRESH_REUSE_GRACE_SECONDS, a replay is reuse."""
    await RefreshToken.update(revoked_at=RefreshToken.revoked_at - dt.timedelta(seconds=seconds)).where(
        RefreshToken.revoked_at.is_null(False)).aio_execute()
