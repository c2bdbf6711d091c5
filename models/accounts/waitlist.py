"""The pre-launch waitlist."""
from __future__ import annotations

import peewee as pw

from models.accounts.tables import WaitlistEntry, normalize_email
from models.core.db import transaction
from models.core.errors import AppError
from models.core.jobs import enqueue

ALREADY = "This email is already on the waitlist."


async def join_waitlist(email: str) -> WaitlistEntry:
    """Add ``email`` and send the confirmation. Raises AppError when already listed."""
    email = normalize_email(email)
    try:
        async with transaction():
            entry = await WaitlistEntry.aio_create(email=email)
            await enqueue("tasks.emails.send_waitlist_confirmation", email)
    except pw.IntegrityError:
        raise AppError(ALREADY, {"email": [ALREADY]}) from None
    return entry
