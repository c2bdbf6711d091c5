"""Guest shoppers: a ``users`` row flagged ``is_guest`` (no password: it can
never log in; no customer record: not counted as a registered customer),
created on the first guest cart and addressed by an opaque cart token (256
random bits; only its SHA-256 is stored, so the database never holds a usable
token and a lookup by hash compares nothing secret in Python). The cart,
checkout and order code keeps working with the guest's user id; the email
given at checkout is kept on the guest's orders. Merging into an account on
sign-in is ``models.checkout.guests``.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid

from models.accounts.tables import User

GUEST_EMAIL_DOMAIN = "guest.invalid"  # RFC 2606: never delivered; the real address is on the orders
MAX_TOKEN = 128


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_guest() -> tuple[User, str]:
    """A new guest and its cart token (shown once: only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    user = await User.aio_create(email=f"guest-{uuid.uuid4().hex}@{GUEST_EMAIL_DOMAIN}", password_hash=None,
                                 is_guest=True, guest_token_hash=token_hash(token))
    return user, token


async def guest_for_token(token: str | None) -> User | None:
    """The guest a cart token addresses; None for anything else."""
    token = (token or "").strip()
    if not token or len(token) > MAX_TOKEN or not token.isascii():
        return None
    return await User.aio_get_or_none((User.guest_token_hash == token_hash(token)) & (User.is_guest == True)  # noqa: E712
                                      & (User.is_active == True))  # noqa: E712
