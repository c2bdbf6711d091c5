"""The emails the app wrote (``DATA_DIR/mail/*.eml``, no SMTP_HOST in tests)."""
from __future__ import annotations

import asyncio
import time

import settings


def read_mails() -> list:
    import email
    from email import policy

    if not settings.MAIL_DIR.exists():
        return []
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(settings.MAIL_DIR.glob("*.eml"))]


async def wait_for_mail(count: int = 1, timeout: float = 20.0) -> list:
    """Wait until the Celery worker has written ``count`` emails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = read_mails()
        if len(mails) >= count:
            return mails
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} email(s), found {len(read_mails())}")


def mail_body(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()
