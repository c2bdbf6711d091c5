"""Passwords: bcrypt (always off the event loop), the strength rules, and the
reset flow (a single-use emailed link; every session ends)."""
from __future__ import annotations

import asyncio

import bcrypt

import settings
from models.accounts.sessions import end_all_sessions
from models.accounts.tables import User, normalize_email
from models.accounts.tokens import consume_one_time_token, issue_one_time_token
from models.core.db import transaction
from models.core.errors import AppError, NotFound, ValidationFailed
from models.core.jobs import enqueue

MIN_LENGTH = 8
# A real hash to compare against when the user does not exist (or has no
# password), so that such a login takes as long as a wrong password: made
# once per process at the configured cost, off the event loop.
_dummy: dict[int, bytes] = {}


def _bytes(password: str) -> bytes:
    return password.encode("utf-8")[:72]  # bcrypt reads at most 72 bytes


async def hash_password(password: str) -> str:
    loop = asyncio.get_running_loop()
    salt = bcrypt.gensalt(settings.BCRYPT_ROUNDS)
    hashed = await loop.run_in_executor(None, bcrypt.hashpw, _bytes(password), salt)
    return hashed.decode()


def _dummy_hash() -> bytes:
    rounds = settings.BCRYPT_ROUNDS
    if rounds not in _dummy:
        _dummy[rounds] = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds))
    return _dummy[rounds]


def _check(password: bytes, hashed: str | None) -> bool:
    if hashed is None:
        bcrypt.checkpw(password, _dummy_hash())
        return False
    return bcrypt.checkpw(password, hashed.encode())


async def check_password(password: str, hashed: str | None) -> bool:
    """``password`` matches ``hashed``; with no hash, spends the same time and says no."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _check, _bytes(password), hashed)


async def warm_up() -> None:
    """Make the dummy hash now (server start), not on the first unknown-email login."""
    await asyncio.get_running_loop().run_in_executor(None, _dummy_hash)


def password_errors(password: str) -> list[str]:
    errors = []
    if len(password) < MIN_LENGTH:
        errors.append(f"This password is too short. It must contain at least {MIN_LENGTH} characters.")
    if password.isascii() and password.isdigit():  # "entirely numeric" as the document says: 0-9
        errors.append("This password is entirely numeric.")
    return errors


async def forgot_password(email: str) -> None:
    user = await User.aio_get_or_none((User.email == normalize_email(email)) & (User.is_active == True))  # noqa: E712
    if user is None:
        raise NotFound("No user found with this email address")
    async with transaction():
        link = await issue_one_time_token(user, "reset")
        await enqueue("tasks.emails.send_password_reset_email", link.id)


async def reset_password(uidb64: str, token: str, password: str) -> None:
    """Set a new password from a reset link; the link works once; every session ends."""
    problems = password_errors(password)
    if problems:
        raise ValidationFailed(errors={"password": problems})
    hashed = await hash_password(password)
    async with transaction():
        user = await consume_one_time_token(uidb64, token, "reset")
        if user is None:
            raise AppError("Invalid reset link")
        await User.update(password_hash=hashed).where(User.id == user.id).aio_execute()
        await end_all_sessions(user.id, "password_reset")
